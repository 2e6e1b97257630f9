"""The demo catalog that ``make run`` seeds: 30 products in 6 categories."""

from __future__ import annotations

CATEGORIES: dict[str, str] = {
    "kitchen": "Kitchen",
    "outdoors": "Outdoors",
    "books": "Books",
    "audio": "Audio",
    "apparel": "Apparel",
    "home": "Home",
}

# (sku, name, description, price in cents, category)
PRODUCTS: list[tuple[str, str, str, int, str]] = [
    ("KIT-001", "Cast Iron Skillet", "A 26 cm pre-seasoned cast iron pan that goes from stove to oven.", 3900, "kitchen"),
    ("KIT-002", "Chef's Knife", "A 20 cm stainless steel chef's knife with a full tang and a balanced grip.", 5900, "kitchen"),
    ("KIT-003", "Pour-Over Coffee Set", "Glass dripper, paper filters and a gooseneck kettle for slow coffee.", 4500, "kitchen"),
    ("KIT-004", "Bamboo Cutting Board", "A thick bamboo board with a juice groove, gentle on knife edges.", 2400, "kitchen"),
    ("KIT-005", "Enamel Dutch Oven", "A 5 litre enamelled pot for stews, bread and slow braises.", 8900, "kitchen"),
    ("OUT-001", "Trail Backpack 30L", "A light 30 litre daypack with a rain cover and hip belt pockets.", 7900, "outdoors"),
    ("OUT-002", "Insulated Water Bottle", "Keeps water cold for 24 hours and coffee hot for 12.", 2900, "outdoors"),
    ("OUT-003", "Two-Person Tent", "A freestanding three-season tent that packs to the size of a loaf.", 19900, "outdoors"),
    ("OUT-004", "Headlamp 400", "A 400 lumen rechargeable headlamp with a red night mode.", 3400, "outdoors"),
    ("OUT-005", "Camp Stove", "A compact gas stove that boils a litre of water in four minutes.", 4900, "outdoors"),
    ("BOK-001", "Designing Data Systems", "A field guide to reliable, scalable and maintainable data systems.", 4200, "books"),
    ("BOK-002", "The Saga Pattern", "How long-running business transactions stay consistent without locks.", 3100, "books"),
    ("BOK-003", "Patterns of Messaging", "Queues, topics, outboxes and inboxes, with their failure modes.", 3600, "books"),
    ("BOK-004", "Cooking for Engineers", "Recipes as data flow graphs, with the chemistry explained.", 2700, "books"),
    ("BOK-005", "Mountain Trails Atlas", "Two hundred day hikes with maps, elevation profiles and water sources.", 3300, "books"),
    ("AUD-001", "Wireless Headphones", "Over-ear headphones with noise cancelling and 30 hours of battery.", 14900, "audio"),
    ("AUD-002", "Bookshelf Speakers", "A pair of powered speakers with a warm, room-filling sound.", 17900, "audio"),
    ("AUD-003", "Portable Speaker", "A waterproof Bluetooth speaker that floats and plays for 12 hours.", 6900, "audio"),
    ("AUD-004", "USB Microphone", "A cardioid condenser microphone for podcasts and video calls.", 8900, "audio"),
    ("AUD-005", "Turntable", "A belt-drive turntable with a built-in preamp and a dust cover.", 24900, "audio"),
    ("APP-001", "Merino Wool Sweater", "A fine-knit merino sweater that breathes and never itches.", 8900, "apparel"),
    ("APP-002", "Rain Jacket", "A packable waterproof shell with taped seams and pit zips.", 12900, "apparel"),
    ("APP-003", "Canvas Sneakers", "Classic low-top canvas sneakers with a vulcanised rubber sole.", 5400, "apparel"),
    ("APP-004", "Wool Socks, 3 Pairs", "Cushioned hiking socks in a merino blend, three pairs.", 2400, "apparel"),
    ("APP-005", "Canvas Tote Bag", "A heavy canvas tote with an inner pocket, for markets and books.", 1900, "apparel"),
    ("HOM-001", "Linen Bedding Set", "Stonewashed linen duvet cover and two pillowcases.", 15900, "home"),
    ("HOM-002", "Ceramic Table Lamp", "A hand-glazed ceramic lamp with a linen shade and warm light.", 7400, "home"),
    ("HOM-003", "Wool Throw Blanket", "A soft lambswool throw for the sofa, woven in a herringbone.", 9900, "home"),
    ("HOM-004", "Scented Candle", "A soy wax candle with notes of cedar and bergamot, 50 hours.", 2200, "home"),
    ("HOM-005", "Indoor Plant Pot", "A glazed stoneware pot with a drainage saucer, for medium plants.", 2900, "home"),
]  # fmt: skip
