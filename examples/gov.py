"""The joint-review departments: each approves the sample application.

    .venv/bin/python examples/gov.py --correlation-id <the application's>

Passing the application's correlation id keeps the decisions, and the admission they
cause, in its flow (``park trace``).
"""

import sys

from samples import HERE, arguments, report, run, sample, uri

from clients.publisher import Publisher


def main() -> int:
    parser = arguments("gov", __doc__)
    parser.add_argument("--correlation-id", help="the application's flow")
    options = parser.parse_args()
    decisions = sorted(path.stem for path in (HERE / "gov").glob("review_decided.*.json"))

    def publish() -> None:
        with Publisher(uri(options), "gov", park_id=options.park_id) as gov:
            for name in decisions:
                decision = sample("gov", name)
                report(
                    gov.publish("review_decided", decision, correlation_id=options.correlation_id)
                )

    return run(publish)


if __name__ == "__main__":
    sys.exit(main())
