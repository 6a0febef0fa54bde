"""A small, made-up Olist release with the real schema, written on demand (never tracked by git).

    python -m pipelines.olist_fixture [DIR]      # writes the nine CSVs (seeded: same bytes every time)

`make run` without Olist files (pipelines/olist_source.py) and the tests read it from
FIXTURE_DIR (tests/assets/olist_fixture/, git-ignored) through `ensure_fixture()`, which writes it
once. The real data stays outside the repository (../shared/data, or OLIST_DIR).

Nothing is copied from the Kaggle data: ids are random 32-hex strings, values and Portuguese
texts are written here. What mirrors the real files: file names, column names and order, the
quoting quirks (some files quote the header and ids, some ids only sometimes, review texts only
when they hold a comma or a line break, a byte-order mark and CRLF in the translation file),
`58.9` not `58.90`, zip prefixes without leading zeros, products without a category, a category
missing from the translation file, a review_id shared by two orders, and a PARTIAL release:
the orders file holds only the first and last part of the orders (items are complete), and
reviews cover only some orders, one of them an order absent from the items.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

from pipelines.olist_schema import OLIST_FILES

FIXTURE_DIR = Path(__file__).resolve().parents[1] / "tests" / "assets" / "olist_fixture"
SEED = 20240917
OUT = FIXTURE_DIR  # where `write` puts files; set by write_fixture
rng = random.Random(SEED)

CATEGORIES = {  # slug → English (pc_gamer has no English name, as in the real translation file)
    "cama_mesa_banho": "bed_bath_table",
    "beleza_saude": "health_beauty",
    "esporte_lazer": "sports_leisure",
    "informatica_acessorios": "computers_accessories",
    "moveis_decoracao": "furniture_decor",
    "utilidades_domesticas": "housewares",
    "relogios_presentes": "watches_gifts",
    "brinquedos": "toys",
    "telefonia": "telephony",
    "pet_shop": "pet_shop",
    "bebes": "baby",
    "livros_tecnicos": "books_technical",
    "pc_gamer": None,
}
COMMENTS = [  # (score, title, message): written for this fixture
    (5, None, "Produto excelente, chegou antes do prazo."),
    (5, "Recomendo", "Adorei o jogo de cama, tecido muito macio!"),
    (5, None, "Chegou rápido, bem embalado.\r\nRecomendo a loja!"),
    (4, None, "Muito bom, igual ao anúncio. Só a cor é um pouco mais clara."),
    (5, "Ótimo", "Comprei para presente e a pessoa amou"),
    (4, None, "Tudo certo, entrega dentro do prazo"),
    (
        1,
        "Não recebi",
        "Ainda não recebi o produto e o prazo já passou. Meu nome é Carla Mendes, me liguem no (21) 99876-5432",
    ),
    (2, None, "Veio faltando uma peça, quero a troca. Meu e-mail é joana.p@exemplo.com.br"),
    (1, None, "Produto diferente do anunciado, cor errada. CPF 529.982.247-25 para o estorno"),
    (3, None, "Qualidade razoável pelo preço. Att. Roberto Lima"),
    (2, None, "Péssima qualidade, quebrou na primeira semana"),
    (5, "Super indico", None),
]
CLASSIFIED = {  # subclass → (class, lowercase texts without punctuation, as in the real file)
    "satisfeito": (
        "satisfeito_com_pedido",
        [
            "produto muito bom chegou certinho",
            "adorei recomendo a todos",
            "tudo perfeito obrigado",
            "gostei muito do produto e da loja",
        ],
    ),
    "antes_prazo": (
        "satisfeito_com_pedido",
        [
            "chegou bem antes do prazo parabens",
            "entrega super rapida antes da data prevista",
            "recebi em tres dias otimo",
        ],
    ),
    "atrasado": (
        "problemas_de_entrega",
        [
            "ainda nao recebi meu pedido e ja passou do prazo",
            "a entrega atrasou mais de uma semana",
            "o rastreio parou e o pedido nao chega",
        ],
    ),
    "entrega_parcial": (
        "problemas_de_entrega",
        [
            "comprei dois itens e so recebi um",
            "veio faltando o segundo volume do pedido",
            "pedi quatro unidades e chegaram so duas",
        ],
    ),
    "outro_entrega": (
        "problemas_de_entrega",
        ["tive que buscar nos correios nao entregaram em casa", "entregaram no endereco errado"],
    ),
    "baixa_qualidade": (
        "problemas_de_qualidade",
        [
            "material fraco quebrou no primeiro uso",
            "qualidade bem inferior ao esperado",
            "o tecido e muito fino e descosturou",
        ],
    ),
    "diferente_do_anunciado": (
        "problemas_de_qualidade",
        [
            "veio cor diferente da que eu pedi",
            "o produto nao e o mesmo da foto",
            "tamanho diferente do informado no anuncio",
        ],
    ),
    "devolucao": (
        "problemas_de_qualidade",
        [
            "quero devolver e receber meu dinheiro de volta meu email e ana@exemplo.com",
            "solicitei a troca e ninguem respondeu",
            "quero cancelar a compra e o estorno no cartao",
        ],
    ),
    "outro_pedido": (
        "problemas_de_qualidade",
        ["fui cobrado duas vezes pelo mesmo pedido", "a nota fiscal veio com o nome errado"],
    ),
}
SUBCLASSES = list(CLASSIFIED)
CITIES = [
    ("sao paulo", "SP", 1151),
    ("rio de janeiro", "RJ", 20031),
    ("belo horizonte", "MG", 30140),
    ("curitiba", "PR", 80010),
    ("campinas", "SP", 13023),
    ("salvador", "BA", 40020),
]


def hex32() -> str:
    return f"{rng.getrandbits(128):032x}"


def money(x: float) -> str:
    """58.90 → '58.9', 199.00 → '199' (how the real files write prices)."""
    return f"{x:.2f}".rstrip("0").rstrip(".")


def ts(t: datetime | None, micro: bool = False) -> str:
    return "" if t is None else t.strftime("%Y-%m-%d %H:%M:%S.%f" if micro else "%Y-%m-%d %H:%M:%S")


def q(value: object, mode: str = "minimal") -> str:
    """One CSV cell: always quoted, sometimes quoted (p=0.5), or quoted only when needed."""
    s = "" if value is None else str(value)
    needs = any(c in s for c in ',"\r\n')
    if mode == "always" or needs or (mode == "sometimes" and rng.random() < 0.5):
        return '"' + s.replace('"', '""') + '"'
    return s


def write(
    name: str,
    header: list[str],
    rows: list[list[str]],
    quote_header: bool = False,
    crlf: bool = False,
    bom: bool = False,
) -> None:
    eol = "\r\n" if crlf else "\n"
    head = ",".join(q(h, "always" if quote_header else "minimal") for h in header)
    text = eol.join([head, *(",".join(r) for r in rows)]) + eol
    (OUT / name).write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))


def write_fixture(out: Path = FIXTURE_DIR) -> Path:
    """Write the nine CSVs into `out` (reseeded: the same bytes on every call); returns `out`."""
    global OUT, rng
    OUT, rng = Path(out), random.Random(SEED)
    OUT.mkdir(parents=True, exist_ok=True)
    cats = list(CATEGORIES)
    write(
        "product_category_name_translation.csv",
        ["product_category_name", "product_category_name_english"],
        [[c, e] for c, e in CATEGORIES.items() if e],
        crlf=True,
        bom=True,
    )

    products = []  # (id, category|None, photos, weight, l, h, w)
    for i in range(40):
        cat = None if i in (7, 23) else "pc_gamer" if i == 31 else cats[i % 12]
        dims = None if i == 17 else (rng.randint(10, 80), rng.randint(2, 40), rng.randint(10, 50))
        weight = None if i == 17 else rng.choice([150, 300, 450, 800, 1200, 2500, 6000, 12500])
        products.append((hex32(), cat, rng.randint(1, 6), weight, *(dims or (None, None, None))))
    base_price = {p[0]: rng.choice([19.9, 29.9, 49.9, 58.9, 89.9, 129.9, 199.0, 349.9, 1299.0]) for p in products}
    rows = []
    for pid, cat, photos, weight, length, height, width in products:
        meta = [rng.randint(20, 60), rng.randint(100, 1500), photos] if cat else ["", "", ""]
        rows.append(
            [
                q(pid, "sometimes"),
                cat or "",
                *map(str, meta),
                *("" if v is None else str(v) for v in (weight, length, height, width)),
            ]
        )
    write(
        "olist_products_dataset.csv",
        [
            "product_id",
            "product_category_name",
            "product_name_lenght",
            "product_description_lenght",
            "product_photos_qty",
            "product_weight_g",
            "product_length_cm",
            "product_height_cm",
            "product_width_cm",
        ],
        rows,
        quote_header=True,
    )

    sellers = [(hex32(), *rng.choice(CITIES)) for _ in range(6)]
    write(
        "olist_sellers_dataset.csv",
        ["seller_id", "seller_zip_code_prefix", "seller_city", "seller_state"],
        [[q(s, "sometimes"), q(f"{z:05d}", "always"), c, st] for s, c, st, z in sellers],
        quote_header=True,
    )

    # 30 people place 45 orders (some come back: recurring customers); 38 of the 40 products sell
    people = [hex32() for _ in range(30)]
    buyers = people + [people[i] for i in (0, 0, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)]
    sold = [p[0] for p in products[:38]]
    orders, items, customers = [], [], []
    for n, person in enumerate(buyers):
        oid, cid = hex32(), hex32()
        city, state, zip_ = rng.choice(CITIES)
        customers.append([cid, person, str(zip_), city, state])
        bought = datetime(2017, 1, 5) + timedelta(days=n * 13 + rng.randint(0, 5), seconds=rng.randint(0, 86399))
        status = "delivered" if n % 9 else rng.choice(["shipped", "canceled", "invoiced"])
        delivered = (
            bought + timedelta(days=rng.randint(3, 15), hours=rng.randint(1, 20)) if status == "delivered" else None
        )
        orders.append(
            [oid, cid, status, bought, delivered, (bought + timedelta(days=20)).replace(hour=0, minute=0, second=0)]
        )
        picks = (
            [sold[(n * 7) % 38]]
            + ([sold[(n * 7 + 5) % 38]] if n % 3 == 0 else [])
            + ([sold[(n * 7) % 38]] if n % 5 == 0 else [])
        )
        for k, pid in enumerate(picks, start=1):
            seller = sellers[int(pid, 16) % 6][0]
            price = base_price[pid] * rng.choice([1, 1, 1, 0.9, 1.1])
            items.append(
                [
                    oid,
                    str(k),
                    pid,
                    seller,
                    ts(bought + timedelta(days=4)),
                    money(round(price, 2)),
                    money(round(rng.uniform(7, 40), 2)),
                ]
            )
    write(
        "olist_order_items_dataset.csv",
        ["order_id", "order_item_id", "product_id", "seller_id", "shipping_limit_date", "price", "freight_value"],
        items,
    )
    write(
        "olist_customers_dataset.csv",
        ["customer_id", "customer_unique_id", "customer_zip_code_prefix", "customer_city", "customer_state"],
        customers,
    )
    pay = [
        [
            o[0],
            "1",
            rng.choice(["credit_card", "credit_card", "boleto", "debit_card"]),
            str(rng.randint(1, 10)),
            money(sum(float(i[5]) + float(i[6]) for i in items if i[0] == o[0])),
        ]
        for o in orders
    ]
    pay.append([orders[4][0], "2", "voucher", "1", "15"])
    write(
        "olist_order_payments_dataset.csv",
        ["order_id", "payment_sequential", "payment_type", "payment_installments", "payment_value"],
        pay,
    )

    # PARTIAL orders file: first 16 and last 12 orders of the release (+ one order with no items)
    kept = orders[:16] + orders[-12:]
    ghost = hex32()
    kept.append([ghost, hex32(), "unavailable", datetime(2018, 8, 1, 10, 0, 0), None, datetime(2018, 8, 25)])
    write(
        "olist_orders_dataset.csv",
        [
            "order_id",
            "customer_id",
            "order_status",
            "order_purchase_timestamp",
            "order_approved_at",
            "order_delivered_carrier_date",
            "order_delivered_customer_date",
            "order_estimated_delivery_date",
        ],
        [
            [
                q(o, "sometimes"),
                q(c, "sometimes"),
                st,
                ts(b),
                ts(b + timedelta(minutes=12)),
                ts(d - timedelta(days=2)) if d else "",
                ts(d),
                ts(est),
            ]
            for o, c, st, b, d, est in kept
        ],
    )

    # PARTIAL reviews: 26 of the 45 orders (some outside the orders file) + one for an order without items
    reviews = []
    for n, (oid, _, _, bought, delivered, _) in enumerate(orders[::2][:18] + orders[1::4][:8]):
        score, title, msg = COMMENTS[n % len(COMMENTS)] if n < 15 else (rng.choice([4, 5, 5, 3, 1]), None, None)
        created = (delivered or bought + timedelta(days=25)).replace(hour=0, minute=0, second=0) + timedelta(days=1)
        reviews.append([hex32(), oid, score, title, msg, created])
    reviews.append([reviews[2][0], orders[-1][0], 5, None, None, reviews[2][5]])  # a review_id shared by two orders
    reviews.append([hex32(), ghost, 1, None, "Pedido cancelado sem aviso", datetime(2018, 8, 20)])
    write(
        "olist_order_reviews_dataset.csv",
        [
            "review_id",
            "order_id",
            "review_score",
            "review_comment_title",
            "review_comment_message",
            "review_creation_date",
            "review_answer_timestamp",
        ],
        [
            [q(r, "always"), q(o, "always"), str(s), q(t), q(m), ts(c), ts(c + timedelta(days=1, hours=7, minutes=13))]
            for r, o, s, t, m, c in reviews
        ],
        quote_header=True,
    )

    header = [
        "",
        "id",
        "order_status",
        "order_products_value",
        "order_freight_value",
        "order_items_qty",
        "order_sellers_qty",
        "order_purchase_timestamp",
        "order_aproved_at",
        "order_estimated_delivery_date",
        "order_delivered_customer_date",
        "customer_city",
        "customer_state",
        "customer_zip_code_prefix",
        "product_category_name",
        "product_name_lenght",
        "product_description_lenght",
        "product_photos_qty",
        "review_score",
        "review_comment_title",
        "review_comment_message",
        "review_creation_date",
        "review_answer_timestamp",
        *(f"votes_{s}" for s in sorted(SUBCLASSES)),
        "most_voted_subclass",
        "most_voted_class",
    ]
    rows = []
    texts = [(s, t) for s, (_, ts_) in CLASSIFIED.items() for t in ts_] + [
        (None, "vieram em caixas separadas e em datas diferentes"),
        (None, "chegou mas a caixa estava amassada"),
    ]
    for n, (sub, text) in enumerate(texts):
        bought = datetime(2017, 3, 1, 8) + timedelta(days=9 * n, minutes=37 * n)
        city, state, zip_ = CITIES[n % len(CITIES)]
        score = 5 if sub in ("satisfeito", "antes_prazo") else 4 if sub is None else rng.choice([1, 2, 3])
        votes = [
            3 if s == sub else (1 if sub is None and s in ("entrega_parcial", "outro_entrega") else 0)
            for s in sorted(SUBCLASSES)
        ]
        rows.append(
            [
                str(n),
                str(n + 1),
                "delivered",
                money(rng.choice([39.9, 89.99, 149.0])),
                money(rng.uniform(8, 30)),
                "1",
                "1",
                ts(bought, True),
                ts(bought + timedelta(minutes=15, microseconds=412233), True),
                ts((bought + timedelta(days=21)).replace(hour=0, minute=0), True),
                ts(bought + timedelta(days=8, microseconds=93120), True),
                city.title(),
                state,
                str(zip_ // 100),
                cats[n % 12],
                str(40 + n),
                str(300 + 11 * n),
                str(1 + n % 4),
                str(score),
                "",
                q(text),
                ts((bought + timedelta(days=9)).replace(hour=0, minute=0), True),
                (bought + timedelta(days=10, hours=3)).strftime("%Y-%m-%d %H:%M:%S+00:00"),
                *map(str, votes),
                sub or "",
                CLASSIFIED[sub][0] if sub else "",
            ]
        )
    write("olist_classified_public_dataset.csv", header, rows)
    return OUT


def ensure_fixture(out: Path = FIXTURE_DIR) -> Path:
    """The fixture directory, written first if any of its files is missing."""
    if not all((Path(out) / name).is_file() for name in OLIST_FILES.values()):
        write_fixture(out)
    return Path(out)


if __name__ == "__main__":
    import sys

    print(write_fixture(Path(sys.argv[1]) if len(sys.argv) > 1 else FIXTURE_DIR))
