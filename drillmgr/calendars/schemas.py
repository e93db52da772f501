"""The feed links resource as the API answers it (calendar feeds, RFC 5545; nothing is read: a rotation takes
no body)."""

from drillmgr.api.fields import Nested, Text
from drillmgr.api.schema import Schema


class FeedLinkSchema(Schema):
    url = Text(
        required=True,
        metadata={
            "format": "uri",
            "description": "the http(s) link to copy; it starts with the server's configured address, "
            "else with the address this request came to",
        },
    )
    webcal = Text(required=True, metadata={"description": "the one-click form"})


class FeedLinksSchema(Schema):
    public = Nested(FeedLinkSchema, required=True)
    me = Nested(FeedLinkSchema, required=True)
    org = Nested(FeedLinkSchema, metadata={"description": "for users of an organisation: every drill of it"})
    region = Nested(
        FeedLinkSchema,
        metadata={
            "description": "for coordinators, viewers and admins: the key drills of their region and the report "
            "deadlines (a link's filter, chosen on the subscribe page, may ask for more)"
        },
    )
