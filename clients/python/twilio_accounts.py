"""Drives accounts, keys, tokens and usage records through Debian's
python3-twilio against a turnkey node, as clients/node/twilio-accounts.js
does for npm twilio. Prints one JSON object on stdout. Run by cmd/turnkey's
Go tests.

Environment: BASE_URL, ACCOUNT_SID, AUTH_TOKEN, MAIN_KEY, MAIN_SECRET (a Main
key of the account).
"""

import json
import os
import sys

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

BASE = os.environ["BASE_URL"]


class Loopback(TwilioHttpClient):
    """Sends every request, whatever host the library aimed it at, to the
    turnkey node under test."""

    def request(self, method, url, *args, **kwargs):
        for host in ("https://api.twilio.com", "https://iam.twilio.com"):
            if url.startswith(host):
                url = BASE + url[len(host):]
        return super().request(method, url, *args, **kwargs)


def client(username, password, account_sid=None):
    return Client(username, password, account_sid=account_sid, http_client=Loopback())


def refusal(fn):
    try:
        fn()
        return {"unexpected": "accepted"}
    except TwilioRestException as err:
        return {"status": err.status, "code": err.code}
    except TwilioException as err:
        # A refused list page: the library raises with the raw response.
        response = err.args[1]
        return {"status": response.status_code, "code": json.loads(response.text)["code"]}


def main():
    sid, token = os.environ["ACCOUNT_SID"], os.environ["AUTH_TOKEN"]
    parent = client(sid, token)
    out = {}

    created = parent.api.v2010.accounts.create(friendly_name="python sub")
    out["created"] = {"sid": created.sid, "owner": created.owner_account_sid,
                      "status": created.status, "hasToken": bool(created.auth_token)}
    sub = client(created.sid, created.auth_token)
    out["subFetchesItself"] = sub.api.v2010.accounts(created.sid).fetch().friendly_name
    out["listed"] = [a.sid for a in parent.api.v2010.accounts.list(page_size=1)]

    keys = [sub.new_keys.create(friendly_name="k%d" % i) for i in range(5)]
    std = client(keys[0].sid, keys[0].secret, account_sid=created.sid)
    out["standardOnKeys"] = refusal(lambda: std.keys.list(limit=1))
    out["standardToken"] = bool(std.tokens.create().username)
    main_key = client(os.environ["MAIN_KEY"], os.environ["MAIN_SECRET"], account_sid=sid)
    out["mainListsKeys"] = isinstance(main_key.keys.list(limit=1), list)
    removed = 0
    page = sub.keys.page(page_size=2)
    while page is not None:
        for k in page:
            sub.keys(k.sid).delete()
            removed += 1
        page = page.next_page()
    out["removed"] = removed
    out["keysLeft"] = len(sub.keys.list())

    tok = sub.tokens.create(ttl=600)
    out["token"] = {"accountSid": tok.account_sid, "servers": len(tok.ice_servers)}

    out["suspended"] = parent.api.v2010.accounts(created.sid).update(status="suspended").status
    out["suspendedFetch"] = refusal(lambda: sub.api.v2010.accounts(created.sid).fetch())
    out["suspendedToken"] = refusal(lambda: sub.tokens.create())
    out["parentSees"] = parent.api.v2010.accounts(created.sid).fetch().status
    out["reactivated"] = parent.api.v2010.accounts(created.sid).update(status="active").status
    out["tokenAgain"] = bool(sub.tokens.create().username)

    records = parent.usage.records.list(category="turnmegabytes")
    out["usage"] = [{"category": r.category, "usage": r.usage, "unit": r.usage_unit,
                     "account": r.account_sid} for r in records]
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
