"""The demo shop's data tables: traffic by hour and weekday, product categories and prices, the
customers' names and countries, the staff, carriers and reasons its story draws from."""

from __future__ import annotations

import unicodedata

from .ownstore import encode_json as _json

HOUR_WEIGHTS = (0.25, 0.15, 0.1, 0.08, 0.08, 0.12, 0.3, 0.6, 0.9, 1.1, 1.2, 1.25,
                1.35, 1.3, 1.2, 1.15, 1.2, 1.35, 1.6, 1.85, 1.9, 1.6, 1.1, 0.6)  # UTC, European shoppers
WEEKDAY_WEIGHTS = (1.0, 0.96, 0.98, 1.0, 1.08, 1.22, 1.15)  # Monday first
CATEGORIES = (  # sku prefix, category, product nouns, price range (EUR)
    ("KIT", "kitchen", ("Chef's Knife", "Cast Iron Skillet", "Espresso Cups", "Cutting Board", "Stock Pot"), 6, 180),
    ("GAR", "garden", ("Pruning Shears", "Hose Reel", "Raised Bed", "Seed Kit", "Solar Lantern"), 5, 240),
    ("ELE", "electronics", ("USB-C Charger", "Bluetooth Speaker", "Headphones", "Smart Plug", "E-Reader"), 12, 480),
    ("HOM", "home", ("Linen Duvet Cover", "Wool Throw", "Table Lamp", "Wall Clock", "Scented Candle"), 8, 220),
    ("SPO", "sports", ("Yoga Mat", "Running Vest", "Kettlebell", "Cycling Gloves", "Water Bottle"), 7, 160),
    ("TOY", "toys", ("Wooden Train Set", "Puzzle 1000pc", "Building Blocks", "Plush Fox", "Board Game"), 9, 120),
    ("OFF", "office", ("Notebook A5", "Fountain Pen", "Desk Organizer", "Monitor Stand", "Ergonomic Mouse"), 4, 150),
    ("BEA", "beauty", ("Face Serum", "Shampoo Bar", "Hand Cream", "Lip Balm", "Body Oil"), 4, 60),
)
ADJECTIVES = ("Classic", "Pro", "Compact", "Eco", "Deluxe", "Nordic", "Everyday", "Premium", "Mini", "Studio")
FIRST_NAMES = ("Anna", "Lukas", "Sofia", "Jonas", "Emma", "Noah", "Mia", "Elias", "Léa", "Finn", "Clara", "Mateo",
               "Julia", "Liam", "Marie", "Lars", "Inês", "Tomás", "Eva", "Hugo", "Chiara", "Luca", "Zofia", "Jakub",
               "Freja", "Oskar", "Saoirse", "Cian", "Björn", "Aoife")
LAST_NAMES = ("Müller", "Schmidt", "Dubois", "Martin", "de Jong", "Jansen", "Rossi", "Bianchi", "García", "López",
              "Kowalski", "Nowak", "Andersson", "Nilsson", "Murphy", "Kelly", "Peeters", "Maes", "Gruber", "Huber",
              "Weber", "Moreau", "Visser", "Ferrari", "Fernández", "Lindqvist", "O'Brien", "Wagner", "Bakker", "Żak")
COUNTRIES = (  # code, calling code, cities, street
    ("DE", "49", ("Berlin", "Hamburg", "München", "Köln"), "Hauptstraße"),
    ("FR", "33", ("Paris", "Lyon", "Lille", "Nantes"), "Rue de la République"),
    ("NL", "31", ("Amsterdam", "Utrecht", "Rotterdam"), "Kerkstraat"),
    ("IT", "39", ("Milano", "Torino", "Bologna"), "Via Roma"),
    ("ES", "34", ("Madrid", "Valencia", "Sevilla"), "Calle Mayor"),
    ("PL", "48", ("Kraków", "Gdańsk", "Wrocław"), "ul. Długa"),
    ("SE", "46", ("Stockholm", "Göteborg", "Malmö"), "Storgatan"),
    ("IE", "353", ("Dublin", "Cork", "Galway"), "Main Street"),
    ("AT", "43", ("Wien", "Graz", "Linz"), "Bahnhofstraße"),
)
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
)
STAFF_IP = {"user:alice": "198.51.100.11", "user:bob": "198.51.100.12", "user:carol": "198.51.100.13",
            "user:dave": "198.51.100.14", "user:erin": "198.51.100.15"}
WAREHOUSE_STAFF = ("user:bob", "user:dave")
CARRIERS = ("DHL", "DPD", "GLS", "UPS", "PostNL")
PAYMENT_METHODS = ("card", "card", "paypal", "sepa_debit", "klarna")
RETURN_REASONS = ("damaged in transit", "wrong size", "changed mind", "arrived late", "not as described")
GOODWILL_REASONS = ("late delivery goodwill", "damaged packaging", "loyalty bonus", "price match")
FRAUD_RULES = ("velocity", "address_mismatch", "card_country_mismatch", "disposable_email")
REORDER_POINT = 15


def _ascii(s: str) -> str:
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode().lower().replace(" ", "").replace("'", "")


FIRST_ASCII = tuple(_ascii(n) for n in FIRST_NAMES)
LAST_ASCII = tuple(_ascii(n) for n in LAST_NAMES)


def customer_client(n: int) -> str:
    """The metadata tail for customer ``n``'s own events: a stable address from the documentation
    ranges (never a real one; 198.51.100.11-15 are the staff's) and a browser."""
    net, host = ("192.0.2", "203.0.113", "198.51.100")[n % 3], 1 + n % 250 if n % 3 < 2 else 100 + n % 150
    return f',"ip":"{net}.{host}","user_agent":{_json(USER_AGENTS[n % 4])}'


def shop_price(x: float) -> float:
    """Shop prices end in 9: 23.4 -> 23.39."""
    return max(0.49, round(round(x, 1) - 0.01, 2))
