"""The enterprise portal: submit the sample application, or a service request.

.venv/bin/python examples/portal.py application
.venv/bin/python examples/portal.py service-request --enterprise-id <from enterprise_admitted>
"""

import sys
import uuid

from samples import arguments, report, run, sample, uri

from clients.publisher import Publisher


def main() -> int:
    parser = arguments("portal", __doc__)
    parser.add_argument("what", choices=["application", "service-request"])
    parser.add_argument("--enterprise-id", help="for a service request")
    options = parser.parse_args()

    def publish() -> None:
        with Publisher(uri(options), "portal", park_id=options.park_id) as portal:
            if options.what == "application":
                report(
                    portal.publish(
                        "application_submitted", sample("portal", "application_submitted")
                    )
                )
                return
            request = sample("portal", "service_requested")
            # request_id is the idempotency key: a new request gets a new one.
            request |= {"request_id": str(uuid.uuid4()), "enterprise_id": options.enterprise_id}
            report(portal.publish("service_requested", request))

    if options.what == "service-request" and not options.enterprise_id:
        parser.error("a service request needs --enterprise-id")
    return run(publish)


if __name__ == "__main__":
    sys.exit(main())
