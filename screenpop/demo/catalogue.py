"""The demo's fixed data: a small office supplier's products, names, area codes and terms.

The documented ``DEMO_CUSTOMERS`` are here too, with their numbers, standing,
ledger and orders written out, so docs and ``screenpop demo`` can name them;
``generator`` draws everyone else from these tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

ANCHOR = date(2026, 11, 1)  # "today" in the demo data; every date is relative to it
DATABASES = ("accounting", "sales", "credit")
# An invoice as the generators describe it: issued, cents, payments as (days after issue, cents).
Invoice = tuple[date, int, tuple[tuple[int, int], ...]]
# An order as the generators describe it: its date and its (sku, quantity) lines.
Order = tuple[date, tuple[tuple[str, int], ...]]


@dataclass(frozen=True)
class DemoCustomer:
    """A customer the docs and ``screenpop demo`` point at; never left to chance."""

    name: str
    e164: str
    phone_text: str
    segment: str
    rating: str
    country: str = "US"
    mobile_text: str | None = None
    duplicate_name: str | None = None
    duplicate_phone_text: str | None = None
    credit_limit_cents: int = 500000
    invoices: tuple[Invoice, ...] = ()
    orders: tuple[Order, ...] = ()


DEMO_CUSTOMERS = (
    DemoCustomer(
        "Ada Lovelace",
        "+14155550132",
        "(415) 555-0132",
        "SMB",
        "B",
        mobile_text="415.555.0199",
        credit_limit_cents=500000,
        invoices=(
            (date(2026, 6, 15), 48000, ((25, 48000),)),
            (date(2026, 8, 16), 125000, ((30, 125000),)),
            (date(2026, 9, 10), 12050, ()),
        ),
        orders=(
            (date(2025, 11, 18), (("LAP-14", 1), ("MOUSE-WL", 1))),
            (date(2026, 5, 6), (("MON-27", 2),)),
            (date(2026, 10, 5), (("PAP-LTR", 4),)),
        ),
    ),
    DemoCustomer(
        "Grace Hopper", "+12125550147", "212-555-0147 x12", "Enterprise", "A", credit_limit_cents=5000000
    ),
    DemoCustomer(
        "Charles Babbage",
        "+13125550178",
        "1-312-555-0178",
        "SMB",
        "B",
        duplicate_name="Charles B. Babbage",
        duplicate_phone_text="+1 312 555 0178",
    ),
    DemoCustomer("Herman Hollerith", "+16175550190", "617.555.0190", "SMB", "D", credit_limit_cents=300000),
    DemoCustomer("Alan Turing", "+442079460018", "+44 20 7946 0018", "SMB", "A", country="GB"),
    DemoCustomer("Konrad Zuse", "+493023125012", "011 49 30 23125012", "Retail", "B", country="DE"),
)

# Real US area codes whose 555-01XX lines phonenumbers accepts as valid.
AREA_CODES = (
    201,
    202,
    203,
    206,
    212,
    213,
    214,
    303,
    305,
    310,
    312,
    313,
    317,
    404,
    407,
    412,
    415,
    503,
    504,
    512,
    602,
    612,
    617,
    619,
    646,
    702,
    704,
    713,
    718,
    720,
    773,
    801,
    804,
    808,
    813,
    816,
    832,
    858,
    917,
    919,
)
FIRST_NAMES = (
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Carlos",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Sandra",
    "Mark",
    "Ashley",
    "Steven",
    "Emily",
    "Paul",
    "Michelle",
    "Andrew",
    "Amanda",
    "Joshua",
    "Melissa",
    "Kenneth",
    "Deborah",
    "Kevin",
    "Stephanie",
    "Brian",
    "Rebecca",
    "Wei",
    "Laura",
    "Priya",
    "Sharon",
    "Jose",
    "Cynthia",
    "Aisha",
    "Kathleen",
    "Omar",
    "Amy",
    "Hiroshi",
    "Angela",
    "Dmitri",
    "Shirley",
    "Kwame",
    "Anna",
    "Luis",
    "Brenda",
)
LAST_NAMES = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Chen",
    "Patel",
    "Okafor",
    "Kowalski",
    "O'Brien",
    "Tanaka",
    "Schmidt",
    "Novak",
    "Haddad",
    "Ivanova",
)
PRODUCTS = (  # sku, name, category, price in cents
    ("LAP-14", "Laptop 14in, 16 GB", "Computers", 114900),
    ("LAP-16", "Laptop 16in workstation", "Computers", 219900),
    ("DESK-MINI", "Mini desktop PC", "Computers", 79900),
    ("MON-24", "Monitor 24in", "Displays", 18900),
    ("MON-27", "Monitor 27in 4K", "Displays", 42900),
    ("ARM-DUAL", "Dual monitor arm", "Displays", 13900),
    ("DOCK-USBC", "USB-C docking station", "Accessories", 24900),
    ("MOUSE-WL", "Wireless mouse", "Accessories", 3900),
    ("KBD-WL", "Wireless keyboard", "Accessories", 6900),
    ("PAD-MOUSE", "Mouse pad", "Accessories", 1200),
    ("HEAD-BT", "Bluetooth headset", "Accessories", 12900),
    ("CAM-HD", "HD webcam", "Accessories", 8900),
    ("BAG-15", "Laptop bag 15in", "Accessories", 5900),
    ("CBL-HDMI", "HDMI cable 2 m", "Accessories", 1500),
    ("PRN-LASER", "Laser printer, mono", "Printers", 32900),
    ("PRN-COLOR", "Color laser printer", "Printers", 54900),
    ("TON-BLK", "Toner cartridge, black", "Supplies", 8900),
    ("TON-CMY", "Toner set, color", "Supplies", 25900),
    ("PAP-LTR", "Copy paper, letter, case", "Supplies", 5400),
    ("PEN-GEL", "Gel pens, box of 12", "Supplies", 1400),
    ("NOTE-PAD", "Notepads, pack of 12", "Supplies", 1800),
    ("CHAIR-ERG", "Ergonomic chair", "Furniture", 48900),
    ("DESK-SIT", "Sit-stand desk", "Furniture", 69900),
    ("LAMP-LED", "LED desk lamp", "Furniture", 4900),
    ("RTR-WIFI", "Wi-Fi 6 router", "Networking", 21900),
    ("SW-24", "24-port switch", "Networking", 34900),
    ("UPS-1500", "UPS 1500 VA", "Networking", 27900),
    ("WARR-3Y", "3-year on-site warranty", "Services", 19900),
    ("SETUP", "On-site setup", "Services", 15000),
    ("OFF-365", "Office suite, 1 year", "Software", 9900),
)
# What merchandising says goes with what (score 0..1); orders follow it, and the
# "likely next purchase" query reads it.  Keys are the products an order starts from.
AFFINITY: dict[str, tuple[tuple[str, float], ...]] = {
    "LAP-14": (
        ("DOCK-USBC", 0.82),
        ("BAG-15", 0.64),
        ("MOUSE-WL", 0.58),
        ("WARR-3Y", 0.45),
        ("OFF-365", 0.40),
    ),
    "LAP-16": (("DOCK-USBC", 0.85), ("WARR-3Y", 0.60), ("BAG-15", 0.55), ("HEAD-BT", 0.35)),
    "DESK-MINI": (("MON-24", 0.78), ("KBD-WL", 0.70), ("MOUSE-WL", 0.66), ("OFF-365", 0.45)),
    "MON-24": (("CBL-HDMI", 0.60), ("ARM-DUAL", 0.42)),
    "MON-27": (("ARM-DUAL", 0.71), ("CBL-HDMI", 0.55), ("DOCK-USBC", 0.50), ("CAM-HD", 0.30)),
    "MOUSE-WL": (("KBD-WL", 0.74), ("PAD-MOUSE", 0.41)),
    "HEAD-BT": (("CAM-HD", 0.52),),
    "PRN-LASER": (("TON-BLK", 0.88), ("PAP-LTR", 0.76), ("SETUP", 0.25)),
    "PRN-COLOR": (("TON-CMY", 0.86), ("TON-BLK", 0.62), ("PAP-LTR", 0.70)),
    "TON-BLK": (("PAP-LTR", 0.48),),
    "PAP-LTR": (("PEN-GEL", 0.35), ("NOTE-PAD", 0.33)),
    "CHAIR-ERG": (("DESK-SIT", 0.47), ("LAMP-LED", 0.38)),
    "DESK-SIT": (("CHAIR-ERG", 0.58), ("ARM-DUAL", 0.44), ("LAMP-LED", 0.36)),
    "RTR-WIFI": (("SW-24", 0.46), ("UPS-1500", 0.40), ("SETUP", 0.55)),
    "SW-24": (("UPS-1500", 0.57), ("SETUP", 0.50)),
}

TERMS = {"A": ("Net 45", 45), "B": ("Net 30", 30), "C": ("Net 15", 15), "D": ("Prepayment", 0)}
OFFER_TERMS = {"A": "Net 60", "B": "Net 45", "C": "Net 30", "D": "Prepayment only"}
LATENESS = {"A": (-15, 0), "B": (-10, 10), "C": (-5, 40), "D": (0, 90)}  # days after due
PAY_CHANCE = {"A": 1.0, "B": 0.97, "C": 0.8, "D": 0.45}
INVOICE_CENTS = {"Retail": (4000, 60000), "SMB": (20000, 300000), "Enterprise": (100000, 2000000)}
LIMIT_CENTS = {"Retail": (100000, 500000), "SMB": (500000, 2500000), "Enterprise": (2500000, 15000000)}
PRICES = {sku: cents for sku, _, _, cents in PRODUCTS}
CATEGORIES = {sku: category for sku, _, category, _ in PRODUCTS}
