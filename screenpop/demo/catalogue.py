"""The demo's fixed data: a small office supplier's products, names, area codes and habits.

The documented ``DEMO_CUSTOMERS`` are here too, with their numbers, standing,
ledger and orders written out (as days before the day the demo is written), so
docs, config/demo.yaml and ``screenpop demo`` can name them and say what each
shows; ``generator`` draws everyone else from these tables.  Nothing here is
advice: which products go together and what terms to offer are computed by
the ``purchases`` and ``rules`` connectors from the rows, as in a real company.
"""

from __future__ import annotations

from dataclasses import dataclass

DATABASES = ("accounting", "sales", "credit")
HISTORY_DAYS = 730  # the order history covers about two years before the day the demo is written
# An invoice as the generators describe it: issued (days ago), cents, payments as (days after issue, cents).
Invoice = tuple[int, int, tuple[tuple[int, int], ...]]
# An order as the generators describe it: days ago and its (sku, quantity) lines.
Order = tuple[int, tuple[tuple[str, int], ...]]


def every(sku: str, quantity: int, days: int, first: int, last: int) -> tuple[Order, ...]:
    """A re-bought consumable: the last order ``last`` days ago, one about every ``days`` before it.

    The gaps wobble by a fixed pattern (+-2 days) and the quantity now and
    then by one, as a real office's do; none is earlier than ``first`` days ago.
    """
    wobble = (0, 2, -1, 1, -2, 0, 1, -1)
    found: list[Order] = []
    ago, n = last, 0
    while ago <= first:
        found.append((ago, ((sku, quantity + int(n % 3 == 2)),)))
        n += 1
        ago += days + wobble[n % len(wobble)]
    return tuple(found)


@dataclass(frozen=True)
class DemoCustomer:
    """A customer the docs and ``screenpop demo`` point at; never left to chance.

    ``orders`` None draws a history like everyone else's; ``()`` is a customer
    with no order at all.  ``shows`` is what the customer is in the demo for.
    """

    name: str
    e164: str
    phone_text: str
    segment: str
    rating: str
    shows: str
    country: str = "US"
    mobile_text: str | None = None
    duplicate_name: str | None = None
    duplicate_phone_text: str | None = None
    credit_limit_cents: int = 500000
    invoices: tuple[Invoice, ...] = ()
    orders: tuple[Order, ...] | None = None


DEMO_CUSTOMERS = (
    DemoCustomer(
        "Ada Lovelace",
        "+14155550132",
        "(415) 555-0132",
        "SMB",
        "B",
        "overdue: ask about it first; buys paper about every 30 days, toner about every 60",
        mobile_text="415.555.0199",
        credit_limit_cents=500000,
        invoices=((139, 48000, ((25, 48000),)), (77, 125000, ((30, 125000),)), (52, 12050, ())),
        orders=(
            (715, (("PRN-LASER", 1), ("TON-BLK", 1), ("PAP-LTR", 3))),
            *every("PAP-LTR", 3, 30, 695, 26),  # with the printer's order: 24 times, about every 30 days
            *every("TON-BLK", 1, 60, 695, 55),  # 12 times, about every 60 days
            (250, (("MON-27", 2),)),
        ),
    ),
    DemoCustomer(
        "Grace Hopper",
        "+12125550147",
        "212-555-0147 x12",
        "Enterprise",
        "A",
        "good standing (Net 45); bought laptops without what usually goes with them",
        credit_limit_cents=5000000,
        invoices=((95, 900000, ((40, 900000),)), (40, 460000, ())),
        orders=(
            (410, (("LAP-14", 8), ("MOUSE-WL", 8))),
            (205, (("LAP-14", 4),)),
            (33, (("LAP-14", 6), ("MOUSE-WL", 6))),
        ),
    ),
    DemoCustomer(
        "Charles Babbage",
        "+13125550178",
        "1-312-555-0178",
        "SMB",
        "B",
        "entered twice in sales (a possible duplicate)",
        duplicate_name="Charles B. Babbage",
        duplicate_phone_text="+1 312 555 0178",
    ),
    DemoCustomer(
        "Herman Hollerith",
        "+16175550190",
        "617.555.0190",
        "SMB",
        "D",
        "credit hold (rating D): no credit, collect first",
        credit_limit_cents=300000,
    ),
    DemoCustomer(
        "Alan Turing",
        "+442079460018",
        "+44 20 7946 0018",
        "SMB",
        "A",
        'London, stored as "+44 20 7946 0018"; bought once, a headset',
        country="GB",
        orders=((150, (("HEAD-BT", 2),)),),
    ),
    DemoCustomer(
        "Konrad Zuse",
        "+493023125012",
        "011 49 30 23125012",
        "Retail",
        "B",
        "a customer with no orders: no purchase advice",
        country="DE",
        orders=(),
    ),
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
# Equipment bought together: a main product, then each companion with its chance of
# being in the same order.  Orders follow these habits; nothing stores them.
BUNDLES: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = (
    ("LAP-14", (("DOCK-USBC", 0.7), ("BAG-15", 0.6), ("MOUSE-WL", 0.5), ("WARR-3Y", 0.4), ("OFF-365", 0.4))),
    ("LAP-16", (("DOCK-USBC", 0.8), ("WARR-3Y", 0.6), ("BAG-15", 0.5), ("HEAD-BT", 0.3))),
    ("DESK-MINI", (("MON-24", 0.8), ("KBD-WL", 0.7), ("MOUSE-WL", 0.7), ("OFF-365", 0.4))),
    ("MON-27", (("ARM-DUAL", 0.6), ("CBL-HDMI", 0.5), ("CAM-HD", 0.2))),
    ("MON-24", (("CBL-HDMI", 0.6), ("ARM-DUAL", 0.3))),
    ("HEAD-BT", (("CAM-HD", 0.5),)),
    ("PRN-LASER", (("TON-BLK", 0.8), ("PAP-LTR", 0.7), ("SETUP", 0.2))),
    ("PRN-COLOR", (("TON-CMY", 0.8), ("PAP-LTR", 0.6), ("SETUP", 0.3))),
    ("CHAIR-ERG", (("DESK-SIT", 0.4), ("LAMP-LED", 0.4))),
    ("DESK-SIT", (("CHAIR-ERG", 0.5), ("ARM-DUAL", 0.4), ("LAMP-LED", 0.3))),
    ("RTR-WIFI", (("SW-24", 0.4), ("UPS-1500", 0.4), ("SETUP", 0.5))),
    ("KBD-WL", (("MOUSE-WL", 0.7), ("PAD-MOUSE", 0.4))),
)
# Consumables re-bought on a cadence (days): a customer keeps their own rhythm around it.
CADENCES = {"PAP-LTR": 30, "TON-BLK": 60, "TON-CMY": 75, "PEN-GEL": 90, "NOTE-PAD": 120}
# Which consumables a printer brings with it: its owners re-buy these.
REFILLS = {"PRN-LASER": ("TON-BLK",), "PRN-COLOR": ("TON-CMY",)}

TERMS = {"A": ("Net 45", 45), "B": ("Net 30", 30), "C": ("Net 15", 15), "D": ("Prepayment", 0)}
LATENESS = {"A": (-15, 0), "B": (-10, 10), "C": (-5, 40), "D": (0, 90)}  # days after due
PAY_CHANCE = {"A": 1.0, "B": 0.97, "C": 0.8, "D": 0.45}
INVOICE_CENTS = {"Retail": (4000, 60000), "SMB": (20000, 300000), "Enterprise": (100000, 2000000)}
LIMIT_CENTS = {"Retail": (100000, 500000), "SMB": (500000, 2500000), "Enterprise": (2500000, 15000000)}
PRICES = {sku: cents for sku, _, _, cents in PRODUCTS}
CATEGORIES = {sku: category for sku, _, category, _ in PRODUCTS}
