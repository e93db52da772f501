"""The region tree over the JSON API (/api/v1)."""

from flask import jsonify

from drillmgr.api.core import bp, token_required
from drillmgr.api.openapi import describe, register_schema
from drillmgr.regions.schemas import RegionListSchema, RegionSchema
from drillmgr.regions.services import all_regions

register_schema("Region", RegionSchema, output=True)
register_schema("RegionList", RegionListSchema, output=True)


@bp.get("/regions")
@describe("The region tree", response="RegionList")
@token_required
def list_regions():
    return jsonify(RegionListSchema().dump({"items": all_regions()}))
