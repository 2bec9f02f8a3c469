"""Caller numbers: whatever a phone system or a legacy column holds -> E.164 and its facts.

Everything here is pure and total: no input makes these functions raise. The
reading of a number is phonenumbers' own, wrapped with what phone systems add
around it. One job a module:

- ``reading``: ``parse_caller`` (a phone system's caller field -> CallerNumber),
  ``normalize`` (a stored number -> E.164), ``is_region``, ``warm``;
- ``classify``: the text around a number (withheld markers, URIs, control characters);
- ``parsing``: the slow, general way through ``phonenumbers.parse``;
- ``fast_path``: the same answer for plain digit strings, from phonenumbers' metadata;
- ``stored``: ``stored_numbers`` (a legacy table's cell -> every E.164 in it: labels, several numbers);
- ``describe``: a read number's formats, region, location and type;
- ``masking``: ``mask``, a number fit for a log line.
"""

from __future__ import annotations

from screenpop.phone.masking import mask
from screenpop.phone.reading import is_region, normalize, parse_caller, warm
from screenpop.phone.stored import region_or_default, stored_numbers, stored_numbers_in_row

__all__ = [
    "is_region",
    "mask",
    "normalize",
    "parse_caller",
    "region_or_default",
    "stored_numbers",
    "stored_numbers_in_row",
    "warm",
]
