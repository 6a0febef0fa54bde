"""After checkout, the customer asks for the payment link again or for another way to pay:
"manda o link de novo", "não recebi o pix", "quero pagar no cartão", "pode ser boleto?".

The server answers these itself (no model: a 135M model has no idea an order is waiting, and a
wrong guess here costs a sale): the `checkout` tool with an empty cart and an order awaiting
payment sends that order's link again, for the method named, or for the one it had
(serve/conversation/executor.py). Only while an order awaits payment and the cart is empty: with
items in the cart, "quero pagar no cartão" is a new checkout and the usual path handles it.
"""

from __future__ import annotations

import re

from serve.conversation.routing import Command
from serve.core.budget import fold

# Words naming a way to pay (folded: lowercase, no accents), pt-BR and English.
METHODS = {
    "card": re.compile(r"\b(cartao|credito|debito|card|credit)\b"),
    "pix": re.compile(r"\bpix\b"),
    "boleto": re.compile(r"\b(boleto|bank slip)\b"),
}
# "send it again": the link (or the PIX code, the boleto) did not arrive, expired or got lost.
RESEND = re.compile(
    r"\b(manda|mande|envia|envie|reenvia|reenvie|passa|passe|gera|gere|cade|perdi|de novo|novamente"
    r"|outra vez|outro link|novo link|expirou|venceu|nao (chegou|recebi|veio|abre|abriu|funciona)"
    r"|send|resend|again|new link)\b"
)
PAY_THING = re.compile(r"\b(link|pix|boleto|codigo|qr ?code|pagamento|payment)\b")
# "I want to pay another way": a way to pay with a verb of paying or choosing, or "no cartão",
# "via pix" ("quero um cartão de memória" names no way to pay).
PAY_WAY = re.compile(
    r"\b(pagar|pago|pagamento|trocar|troca|mudar|muda|prefiro|pay|switch|change|prefer)\b"
    r"|\b(no|na|em|via|pelo|pela|por|com|by|with) (cartao|credito|debito|pix|boleto|card)\b"
)


def payment_request_command(text: str, awaiting_payment: str | None, has_cart: bool) -> Command | None:
    """`checkout` for the order awaiting payment (`awaiting_payment`: its method), or None."""
    if awaiting_payment is None or has_cart or not text.strip():
        return None
    folded = fold(text)
    named = [method for method, words in METHODS.items() if words.search(folded)]
    if len(named) == 1 and (PAY_WAY.search(folded) or RESEND.search(folded)):
        return Command(calls=(("checkout", {"payment_method": named[0]}),))
    if not named and RESEND.search(folded) and PAY_THING.search(folded):
        return Command(calls=(("checkout", {"payment_method": awaiting_payment}),))
    return None
