# componentize-py world: brand-plugin-http
"""Order status: an example Python plugin that asks the brand's own shop API.

For a customer message that quotes an order number ("where is my order 4411?") it asks
the shop (`GET {shop_api}/orders/{number}`, the setting `shop_api` naming an origin the
brand allows in `[brands.NAME.http]`, whose credential the gateway adds) and answers
with the order's status, courier and tracking link. An order the shop does not know is
answered as such. When the shop cannot be asked (the policy refuses, it is down, it
answers something else) the ticket goes to a human with a note saying why: the customer
never gets a guess.

It is built against the `brand-plugin-http` world (the first line of this file tells the
gateway's build so) and uses `gateway_http` from `plugins/python/sdk`. In that world the
gateway's `types` interface is `zendesk_gateway_plugin_types`, since wasi:http has a
`types` of its own.
"""

import re

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import actions, settings, ticket
from wit_world.imports import zendesk_gateway_plugin_types as types

from gateway_http import HttpError, send

# "order 4411", "order no. 4411", "order number #4411", "#4411".
ORDER_NUMBER = re.compile(r"(?:order(?:\s+(?:no\.?|number))?\s*#?|#)\s*(\d{3,12})\b", re.I)

STATUS_WORDS = {
    "processing": "is being prepared in our warehouse",
    "shipped": "is on its way",
    "delivered": "has been delivered",
}


def order_number(text):
    """The first order number the text quotes, or None."""
    m = ORDER_NUMBER.search(text)
    return int(m.group(1)) if m else None


def answer_for(order):
    """The reply for an order as the shop API describes it."""
    number = order.get("id")
    status = str(order.get("status", "unknown"))
    words = STATUS_WORDS.get(status, f"has the status \"{status}\"")
    lines = [f"Thanks for your patience. Order {number} {words}."]
    if order.get("carrier") and order.get("tracking_url"):
        shipped = f" on {order['shipped_on']}" if order.get("shipped_on") else ""
        lines.append(
            f"It left with {order['carrier']}{shipped}; you can follow it here: "
            f"{order['tracking_url']}"
        )
    return "\n\n".join(lines)


class Handler(exports.Handler):
    def handle(self, event: types.Event) -> types.Outcome:
        api = (settings.get("shop_api") or "").rstrip("/")
        if not api:
            return types.Outcome_Skipped("no shop_api setting")
        try:
            comments = ticket.comments()
        except Err as e:
            raise Err(f"reading the conversation: {e.value}")
        seat = ticket.seat()
        public = [c for c in comments if c.public]
        if not public or public[-1].author_id == seat.id:
            return types.Outcome_Skipped("last word is ours")
        number = order_number(public[-1].body)
        if number is None:
            return types.Outcome_Skipped("no order number in the customer's message")

        why = None
        try:
            answer = send("GET", f"{api}/orders/{number}", headers=[("Accept", "application/json")])
            if answer.status == 200:
                order = answer.json()
            elif answer.status == 404:
                order = None
            else:
                why = f"the shop API answered {answer.status}"
        except HttpError as e:
            why = ("the gateway's policy refused the call: " if e.denied else "") + str(e)

        try:
            if why is not None:
                actions.note(
                    f"Needs a human: the customer asks about order {number}, and the shop "
                    f"API could not be asked ({why})."
                )
                actions.add_tags(["order_status_handoff"])
                t = ticket.get()
                if t.assignee_id == seat.id:
                    actions.unassign()
                return types.Outcome_HandedOff(f"shop API not asked for order {number}: {why}")
            if order is None:
                actions.reply(
                    f"We could not find an order {number}. Could you check the number in "
                    "your confirmation email?"
                )
                actions.add_tags(["order_status_unknown"])
                return types.Outcome_Handled(f"order {number} is unknown to the shop API")
            actions.reply(answer_for(order))
            actions.add_tags(["order_status_answered"])
        except Err as e:
            raise Err(f"staging the answer: {e.value}")
        return types.Outcome_Handled(
            f"answered order {number} ({order.get('status')}) from the shop API"
        )
