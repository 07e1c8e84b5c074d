"""B2B triage: an example brand plugin written in Python (componentize-py).

A business-software brand does not want the AI to answer customers; it wants every
ticket sorted before a human opens it. For each new customer message this plugin

* classifies the ticket (outage, security, billing, access, feature request, question)
  from the words the customer used;
* tags it with the category and a priority tag (enterprise accounts, recognised by the
  `enterprise` tag Zendesk already put on the ticket, go one priority up);
* assigns the category's group, when the brand's settings name one
  (`group_outage = "..."` in `[brands.NAME.settings]`, the group's Zendesk id);
* writes an internal note summarising the above for the agent.

It never replies publicly. It is built against the same WIT contract as the Rust
plugins: `componentize-py -d wit -w brand-plugin componentize app -o b2b_triage.wasm`.
"""

import re

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import actions, settings, ticket, types

# (category, priority, keywords). The first category whose keywords appear wins, so the
# list goes from most to least urgent.
CATEGORIES = [
    ("outage", "urgent", ["outage", "down", "not loading", "500 error", "502", "503",
                          "unavailable", "cannot access", "can't access", "all users"]),
    ("security", "urgent", ["security", "breach", "vulnerability", "phishing",
                            "suspicious login", "compromised", "leaked"]),
    ("billing", "normal", ["invoice", "billing", "charged", "charge", "payment",
                           "refund", "credit card", "vat", "purchase order"]),
    ("access", "high", ["password", "sso", "login", "log in", "locked out", "2fa",
                        "saml", "permission", "seat"]),
    ("feature_request", "low", ["feature request", "would be great", "would be nice",
                                "roadmap", "suggestion", "could you add", "wish"]),
]

PRIORITY_UP = {"low": "normal", "normal": "high", "high": "urgent", "urgent": "urgent"}


def words_of(text):
    """Lower-case text with punctuation turned to spaces, padded for whole-word search."""
    return " " + re.sub(r"[^a-z0-9'\s]", " ", text.lower()) + " "


def classify(text, tags):
    """The category, the priority and the keywords that decided, for a ticket's text.

    Enterprise accounts go one priority up (urgent stays urgent).
    """
    haystack = words_of(text)
    category, priority, hits = "question", "normal", []
    for name, prio, keywords in CATEGORIES:
        found = [k for k in keywords if " " + k + " " in haystack]
        if found:
            category, priority, hits = name, prio, found
            break
    if "enterprise" in tags:
        priority = PRIORITY_UP[priority]
    return category, priority, hits


def new_since_triage(comments, seat_id):
    """The public comments by others since the seat last wrote anything.

    The seat never replies publicly here: its triage note (a private comment) marks what
    was already seen, so only what came after it is new.
    """
    texts = []
    for c in comments:
        if c.author_id == seat_id:
            texts = []
        elif c.public:
            texts.append(c.body)
    return "\n\n".join(texts)


class Handler(exports.Handler):
    def handle(self, event: types.Event) -> types.Outcome:
        try:
            t = ticket.get()
            comments = ticket.comments()
        except Err as e:
            raise Err(f"reading the ticket: {e.value}")
        seat = ticket.seat()
        public = [c for c in comments if c.public]
        if public and public[-1].author_id == seat.id:
            return types.Outcome_Skipped("last word is ours")
        new = new_since_triage(comments, seat.id)
        if "b2b_triaged" in t.tags and not new:
            return types.Outcome_Skipped("already triaged, nothing new from the customer")

        text = t.subject + "\n\n" + (new or t.description)
        category, priority, hits = classify(text, t.tags)

        group = settings.get("group_" + category)
        note = [f"Triage: {category.replace('_', ' ')}, priority {priority}."]
        if hits:
            note.append("Matched: " + ", ".join(f'"{h}"' for h in hits) + ".")
        if "enterprise" in t.tags:
            if priority == "urgent" and classify(text, [])[1] == "urgent":
                note.append("Enterprise account (already urgent).")
            else:
                note.append("Enterprise account: priority raised one step.")
        try:
            actions.add_tags(["b2b_triaged", "b2b_" + category, "priority_" + priority])
            if group and group.strip().isdigit():
                actions.assign(actions.Assignee_Group(int(group)))
                note.append(f"Routed to group {group}.")
            elif t.assignee_id == seat.id:
                actions.unassign()
            actions.note(" ".join(note))
        except Err as e:
            raise Err(f"staging the triage: {e.value}")
        return types.Outcome_Handled(f"triaged as {category} ({priority})")
