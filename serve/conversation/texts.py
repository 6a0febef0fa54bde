"""What the server itself says to customers, in Brazilian Portuguese and English.

Customers write in pt-BR first, English second. The model answers in the customer's language on
its own; everything the server words (tool results, menus, buttons, the fallback) comes from the
tables below, picked by `detect_language` on the customer's own messages. Button titles stay
within the Cloud API's 20 characters in both languages (tests/serve/conversation/test_texts.py).
"""

from __future__ import annotations

import re

LANGUAGES = ("pt", "en")

# Frequent function words that tell the two languages apart (words shared by both are left out).
PT_WORDS = frozenset(
    "o os as um uma de da do das dos que não nao é eu você voce vocês voces tem têm quero queria "
    "para pra com meu minha seu sua isso esse essa esta este obrigado obrigada oi olá ola bom boa "
    "dia tarde noite cadê cade qual quanto quando onde como mais por favor sim tudo pedido carrinho".split()
)
EN_WORDS = frozenset(
    "the you your i my is are do does have has want would like to of for with this that it what "
    "where when how much many please thanks thank hi hello hey yes order cart buy need looking sell any got "
    "some can could get show see there just cheapest cheaper below under instead carry guys make update change "
    "send link payment installments if possible".split()
)


# A message made only of these ("oi", "bom dia!", "olá, tudo bem?") almost always opens a burst:
# the request follows a few seconds later (serve/whatsapp/inbox.py holds it for INBOX_GREETING_HOLD_S).
GREETING_WORDS = frozenset(
    "oi oie oii olá ola opa ei eai aí ai e bom boa dia tarde noite tudo bem blz beleza td "
    "hi hello hey good morning afternoon evening".split()
)


# A follow-up about "the product just shown" ("e o frete?", "me fala mais dele", "is it any good?")
# made only of these words names no other product, so the server answers it for the product in
# focus (serve/conversation/routing.py: focus_command). A word outside this set ("e o frete da toalha?") may name
# another product: the model decides.
FOLLOW_UP_WORDS = frozenset(
    "e o a os as do da de dele dela desse dessa deste desta nesse nessa esse essa este esta isso ele ela "
    "qual quanto quanta fica sai custa é eh ta tá valor frete entrega envio caro cara barato prazo demora "
    "chega quando me fala conta mais sobre detalhes detalhe como tem bom boa qualidade avaliações vale pena "
    "produto item mesmo ok mas "
    "and the what about shipping how much is it this that one delivery expensive cost does tell me more "
    "details good quality reviews any for of".split()
)


def words(text: str) -> list[str]:
    """The lowercase words of `text`: letters only (digits, emoji and punctuation dropped)."""
    return re.findall(r"[^\W\d_]+", text.lower())


def only_words(text: str, vocabulary: frozenset[str], max_words: int) -> bool:
    """1 to `max_words` words, every one of them in `vocabulary`."""
    w = words(text)
    return 0 < len(w) <= max_words and all(x in vocabulary for x in w)


def is_greeting(text: str) -> bool:
    """Only greeting words, at most 5: "oi", "Boa tarde!", "olá, tudo bem?"."""
    return only_words(text, GREETING_WORDS, 5)


def is_follow_up(text: str) -> bool:
    """Up to 8 words, all from FOLLOW_UP_WORDS: a question about the product in focus."""
    return only_words(text, FOLLOW_UP_WORDS, 8)


def detect_language(text: str) -> str | None:
    """ "pt" or "en" from function words (accents count for pt); None when the text tells nothing
    (a price, an emoji, "ok"), so the caller keeps the language it had."""
    found = words(text)
    pt = sum(w in PT_WORDS for w in found) + bool(re.search(r"[ãõçáéíóúâêô]", text.lower()))  # "câmera" in English
    en = sum(w in EN_WORDS for w in found)
    if pt == en:
        return None
    return "pt" if pt > en else "en"


TEXTS: dict[str, dict[str, str]] = {
    "pt": {
        "fallback": "Desculpe, tive um probleminha para responder agora. 😅 Pode repetir com outras palavras? "
        "Se preferir, use um dos botões abaixo.",
        "help_with": "Posso te ajudar com:",
        "handoff": "Certo! Vou chamar uma pessoa da nossa equipe; já já alguém te responde por aqui. 🙋",
        "error": "Não consegui fazer isso: {error}.",
        "no_orders": "Não encontrei pedidos feitos por este número. Se comprou com outro número, me mande o "
        "código do pedido (começa com ZV).",
        "reviews": "{n} avaliações",
        "ratings_of_shown": "Avaliações de quem já comprou:",
        "no_ratings": "ainda sem avaliações",
        "freight_of_shown": "Frete de cada um (1 unidade):",
        "low_stock": "Últimas {n} unidades em estoque.",
        "sold_out": "No momento está sem estoque.",
        "comment": 'Um cliente disse: "{comment}"',
        "no_results": "Não encontrei produtos com essa descrição. Pode me contar de outro jeito o que procura?",
        "options": "Separei estas opções:",
        "rated_alike": "Esses ainda não têm avaliações. Os mais bem avaliados parecidos:",
        "added": "Adicionei {qty}x {name} ao carrinho. ✅",
        "added_more": "Adicionei mais {qty}x {name}: agora são {now} no carrinho. ✅",
        "removed": "Removi {qty}x {name} do carrinho.",
        "cart_empty": "Seu carrinho está vazio.",
        "totals": "Subtotal: {subtotal} · Frete: {freight}{discount}\n*Total: {total}*",
        "free": "grátis",
        "discount": "\nDesconto: {discount}",
        "order_created": "Pedido *{order}* criado! Total: {total}. Pague com {pay} neste link: {link}",
        "order_line": "Pedido {order}: {status}. Comprado em {bought}.",
        "delivered": " Entregue em {date}.",
        "eta": " Previsão de entrega: {date}.",
        "done": "Pronto!",
        "pay_link": "Link de pagamento do pedido {order}: {link}",
        "pix_code": "PIX copia e cola:\n{code}",
        "cart_next": "O que você quer fazer agora?",
        "cart_total": "Total do carrinho: {total}",
        "list_body": "Toque numa opção para ver foto, detalhes e avaliações:",
        "want_it": "{name}: quer levar?",
        "how_pay": "Como você prefere pagar?",
        "which_one": "Qual deles você quer? Toque para adicionar:",
        "which_one_remove": "Qual deles você quer tirar? Toque para remover:",
        "hello": "Olá! 👋",
        "hello_name": "Olá, {name}! 👋",
        "greeting": "{hello} Sou a assistente de vendas da {store}. Me conta o que você procura ou escolha uma opção:",
        "thanks": "Eu que agradeço! Se precisar de algo, é só chamar por aqui. 😊",
        "welcome_back": "Que bom te ver",
        "paid": "Pagamento confirmado! ✅ Seu pedido {order} foi aprovado.\nTotal: {total}. Previsão de entrega: {eta}.\n"
        'Para acompanhar, é só perguntar "cadê meu pedido {order}?"',
        "payment_failed": "O pagamento do pedido {order} não foi aprovado. Se quiser, posso gerar um novo link de pagamento.",
        "order_shipped": "Seu pedido {order} saiu para entrega! 🚚 Previsão de chegada: {eta}.",
        "order_delivered": "Seu pedido {order} foi entregue. ✅ Obrigado pela compra! Qualquer coisa, é só chamar.",
        "order_canceled": "O pedido {order} foi cancelado e não será cobrado. Se quiser, monto um novo pedido para você.",
        "offer_reorder": "{who}, quer repetir seu último pedido{last} ou ver as novidades?",
        "offer_news": "{who}, separei novidades para você.",
        "decline": "Tudo bem, sem problema! Se mudar de ideia ou quiser ver outras opções, é só me chamar. 😊",
        "shipping": "O frete de *{name}* fica {freight}.",
        "shipping_free": "O frete de *{name}* é grátis! 🎉",
        "freight_tip": "Pedidos a partir de {free_above} têm frete grátis, e cada item extra no mesmo pedido paga "
        "só {extra_pct}% do frete dele.",
        # button and list titles (≤ 20 characters)
        "b_list": "Ver opções",
        "b_add": "Adicionar",
        "b_pairs": "Combina com",
        "b_cart": "Ver carrinho",
        "b_checkout": "Finalizar compra",
        "b_more": "Sugestões",
        "b_best": "Mais vendidos",
        "b_order": "Meu pedido",
        "b_human": "Falar com atendente",
        "b_pix": "PIX",
        "b_card": "Cartão",
        "b_boleto": "Boleto",
        "b_reorder": "Repetir pedido",
        "b_news": "Ver novidades",
        # payment methods and order statuses (Olist codes)
        "pay_pix": "PIX",
        "pay_card": "cartão",
        "pay_boleto": "boleto",
        "st_pending_payment": "aguardando pagamento",
        "st_created": "criado",
        "st_approved": "pagamento aprovado",
        "st_paid": "pagamento aprovado",
        "st_invoiced": "faturado",
        "st_processing": "em separação",
        "st_shipped": "enviado",
        "st_delivered": "entregue",
        "st_canceled": "cancelado",
        "st_unavailable": "indisponível",
    },
    "en": {
        "fallback": "Sorry, I had a little trouble answering just now. 😅 Could you say it another way? "
        "Or use one of the buttons below.",
        "help_with": "I can help you with:",
        "handoff": "Sure! I'm calling someone from our team; they will answer you here shortly. 🙋",
        "error": "I couldn't do that: {error}.",
        "no_orders": "I couldn't find orders from this number. If you bought with another number, send me the "
        "order code (it starts with ZV).",
        "reviews": "{n} reviews",
        "ratings_of_shown": "What buyers rated them:",
        "no_ratings": "no reviews yet",
        "freight_of_shown": "Shipping for each (1 unit):",
        "low_stock": "Only {n} left in stock.",
        "sold_out": "Out of stock right now.",
        "comment": 'A customer said: "{comment}"',
        "no_results": "I couldn't find products like that. Could you describe what you are looking for another way?",
        "options": "Here are some options:",
        "rated_alike": "Nobody has rated those yet. The best rated ones like them:",
        "added": "Added {qty}x {name} to your cart. ✅",
        "added_more": "Added {qty} more {name}: {now} in your cart now. ✅",
        "removed": "Removed {qty}x {name} from your cart.",
        "cart_empty": "Your cart is empty.",
        "totals": "Subtotal: {subtotal} · Shipping: {freight}{discount}\n*Total: {total}*",
        "free": "free",
        "discount": "\nDiscount: {discount}",
        "order_created": "Order *{order}* created! Total: {total}. Pay with {pay} here: {link}",
        "order_line": "Order {order}: {status}. Bought on {bought}.",
        "delivered": " Delivered on {date}.",
        "eta": " Expected delivery: {date}.",
        "done": "Done!",
        "pay_link": "Payment link for order {order}: {link}",
        "pix_code": "PIX copy-and-paste code:\n{code}",
        "cart_next": "What would you like to do next?",
        "cart_total": "Cart total: {total}",
        "list_body": "Tap an option to see its photo, details and reviews:",
        "want_it": "{name}: want it?",
        "how_pay": "How would you like to pay?",
        "which_one": "Which one would you like? Tap to add it:",
        "which_one_remove": "Which one should I take out? Tap to remove it:",
        "hello": "Hi! 👋",
        "hello_name": "Hi, {name}! 👋",
        "greeting": "{hello} I'm the sales assistant of {store}. Tell me what you are looking for or pick an option:",
        "thanks": "Thank you! If you need anything, just message me here. 😊",
        "welcome_back": "Great to see you",
        "paid": "Payment confirmed! ✅ Your order {order} is approved.\nTotal: {total}. Expected delivery: {eta}.\n"
        'To follow it, just ask "where is my order {order}?"',
        "payment_failed": "The payment for order {order} was not approved. If you like, I can make a new payment link.",
        "order_shipped": "Your order {order} is on its way! 🚚 Expected delivery: {eta}.",
        "order_delivered": "Your order {order} was delivered. ✅ Thank you! If you need anything, just message me.",
        "order_canceled": "Order {order} was canceled and will not be charged. If you like, I can set up a new order.",
        "offer_reorder": "{who}, would you like to repeat your last order{last} or see what's new?",
        "offer_news": "{who}, I picked some new arrivals for you.",
        "decline": "No problem at all! If you change your mind or want to see other options, just message me. 😊",
        "shipping": "Shipping for *{name}* is {freight}.",
        "shipping_free": "Shipping for *{name}* is free! 🎉",
        "freight_tip": "Orders of {free_above} or more ship for free, and each extra item in the same order pays "
        "only {extra_pct}% of its shipping.",
        "b_list": "See options",
        "b_add": "Add to cart",
        "b_pairs": "Goes well with",
        "b_cart": "View cart",
        "b_checkout": "Checkout",
        "b_more": "Suggestions",
        "b_best": "Best sellers",
        "b_order": "My order",
        "b_human": "Talk to a person",
        "b_pix": "PIX",
        "b_card": "Card",
        "b_boleto": "Boleto slip",
        "b_reorder": "Order again",
        "b_news": "See what's new",
        "pay_pix": "PIX",
        "pay_card": "card",
        "pay_boleto": "boleto",
        "st_pending_payment": "awaiting payment",
        "st_created": "created",
        "st_approved": "payment approved",
        "st_paid": "payment approved",
        "st_invoiced": "invoiced",
        "st_processing": "being prepared",
        "st_shipped": "shipped",
        "st_delivered": "delivered",
        "st_canceled": "canceled",
        "st_unavailable": "unavailable",
    },
}


# Every title our buttons and lists carry: what the customer "says" by tapping one.
BUTTON_TITLES = frozenset(v for table in TEXTS.values() for k, v in table.items() if k.startswith("b_"))


def say(lang: str, key: str, **values) -> str:
    """The text `key` in `lang` (pt when unknown), formatted with `values`."""
    table = TEXTS.get(lang, TEXTS["pt"])
    return table[key].format(**values) if values else table[key]


def word(lang: str, prefix: str, code: str) -> str:
    """A code's word ("st_shipped" → "enviado"); the code itself when the table lacks it."""
    return TEXTS.get(lang, TEXTS["pt"]).get(f"{prefix}_{code}", code)


# Tool errors are pt-BR on purpose: the same text is in the training data's tool messages
# (serve/core/cart_math.py, serve/commerce/cart.py, serve/core/tool_results.py are synthesize-stage dependencies, so
# rewording them retrains). An English-writing customer gets them reworded here, by pattern.
ERRORS_EN: tuple[tuple[re.Pattern, str], ...] = tuple(
    (re.compile(pattern), english)
    for pattern, english in (
        (r"produto não encontrado: (?P<id>.+)", "product not found: {id}"),
        (r"categoria não encontrada: (?P<cat>.+)", "category not found: {cat}"),
        (r"a quantidade deve ser pelo menos 1", "the quantity must be at least 1"),
        (r"a quantidade deve ser um número inteiro", "the quantity must be a whole number"),
        (r"no máximo (?P<n>\d+) unidades por produto", "at most {n} units per product"),
        (r"(?P<name>.+) está sem estoque", "{name} is out of stock"),
        (
            r"só temos (?P<n>\d+) unidades? de (?P<name>.+?) \(já tem (?P<have>\d+) no carrinho\)",
            "we only have {n} of {name} (you already have {have} in your cart)",
        ),
        (r"só temos (?P<n>\d+) unidades? de (?P<name>.+)", "we only have {n} of {name}"),
        (r"esse produto não está no carrinho", "that product is not in your cart"),
        (r"cupom (?P<code>.+) não existe ou expirou", "coupon {code} does not exist or has expired"),
        (r"o carrinho está vazio", "your cart is empty"),
    )
)


def tool_error(lang: str, error: str) -> str:
    """A tool's error detail in `lang`; an error with no English pattern stays as the tool wrote it."""
    if lang != "en":
        return error
    for pattern, english in ERRORS_EN:
        if m := pattern.fullmatch(error):
            return english.format(**m.groupdict())
    return error


__all__ = [
    "BUTTON_TITLES",
    "FOLLOW_UP_WORDS",
    "GREETING_WORDS",
    "LANGUAGES",
    "TEXTS",
    "detect_language",
    "is_follow_up",
    "is_greeting",
    "say",
    "tool_error",
    "word",
    "words",
]
