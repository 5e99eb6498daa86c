# MiniStack 1.5.33 gap: fleet provisioning by claim over MQTT answers
# `$aws/certificates/create/json` (CreateKeysAndCertificate) but not
# `$aws/certificates/create-from-csr/json` (CreateCertificateFromCsr): a request there is accepted
# (PUBACK) and never answered. This adds the answer the AWS IoT developer guide documents
# ("Device provisioning MQTT API", CreateCertificateFromCsr):
#   request  {"certificateSigningRequest": "<PEM>"}
#   accepted {"certificateId", "certificatePem", "certificateOwnershipToken"}
#   rejected {"statusCode", "errorCode", "errorMessage"}
# The certificate is created PENDING_ACTIVATION (RegisterThing activates it as its template says),
# with an ownership token that MiniStack's own RegisterThing accepts. Test setup only: our code
# and tests speak to AWS's documented API.
import json
import secrets
import time

_TOPIC = "$aws/certificates/create-from-csr/json"
_OPERATION = "create-from-csr"


def install() -> None:
    from ministack.core.responses import get_account_id  # noqa: F401  (fails early on another layout)
    from ministack.services import iot

    original_parse = iot._parse_fleet_provisioning_topic
    original_reply = iot._fleet_provisioning_reply

    def parse(topic):
        if topic == _TOPIC:
            return _OPERATION, None
        return original_parse(topic)

    async def reply(account_id, region, operation, template_name, payload, connection):
        if operation != _OPERATION:
            return await original_reply(account_id, region, operation, template_name, payload, connection)
        return _create_certificate_from_csr(iot, account_id, region, payload)

    iot._parse_fleet_provisioning_topic = parse
    iot._fleet_provisioning_reply = reply


def _create_certificate_from_csr(iot, account_id, region, payload):
    try:
        request = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        request = None
    if not isinstance(request, dict):
        return iot._fleet_rejected("InvalidPayload", "Message cannot be parsed")
    csr = request.get("certificateSigningRequest")
    if not isinstance(csr, str) or not csr:
        return iot._fleet_rejected("InvalidCsr", "Certificate signing request cannot be empty.")
    try:
        ca_cert_pem, ca_key_pem = iot._ensure_ca()
        cert_pem = iot.sign_certificate_request(ca_cert_pem, ca_key_pem, csr)
    except ValueError:
        return iot._fleet_rejected("InvalidCsr", "CSR violates constraints")
    except RuntimeError as error:
        return iot._fleet_rejected("InternalFailure", str(error), 500)
    cert_id = iot.get_certificate_id(cert_pem)
    token = secrets.token_urlsafe(48)
    with iot.request_scope(account_id, region):
        iot._certificates[cert_id] = iot._certificate_record(cert_id, cert_pem, "PENDING_ACTIVATION")
        iot._drop_expired(iot._ownership_tokens)
        iot._ownership_tokens[token] = {
            "certificateId": cert_id,
            "expiration": time.time() + iot._OWNERSHIP_TOKEN_SECONDS,
        }
    return "accepted", {
        "certificateId": cert_id,
        "certificatePem": cert_pem,
        "certificateOwnershipToken": token,
    }
