"""The meter system: send a cumulative reading of the sample meter.

.venv/bin/python examples/meters.py [--reading 1300.0]
"""

import sys
from datetime import UTC, datetime

from samples import arguments, report, run, sample, uri

from clients.publisher import Publisher


def main() -> int:
    parser = arguments("meters", __doc__)
    parser.add_argument("--reading", help='a decimal string, e.g. "1300.0"')
    options = parser.parse_args()
    reading = sample("meters", "reading_recorded")
    reading["read_at"] = datetime.now(UTC)  # the library writes it as UTC "…Z"
    if options.reading is not None:
        reading["reading"] = options.reading

    def publish() -> None:
        with Publisher(uri(options), "meters", park_id=options.park_id) as meters:
            report(meters.publish("reading_recorded", reading))

    return run(publish)


if __name__ == "__main__":
    sys.exit(main())
