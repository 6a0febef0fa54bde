"""serve/conversation/knowledge.py + store_questions.py: store questions detected in the way customers
type them and answered from configs/store.yaml and the code's own rules, never from a copy.

The phrasings below are written for these tests (not from the simulator's bank, not from training)."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest
import yaml

from serve.contract import format_brl
from serve.contract.tools import Checkout
from serve.conversation.grounding import amounts_in
from serve.conversation.knowledge import LGPD_REASON, StoreConfigError, StoreKnowledge
from serve.conversation.messages import ButtonsReply, Inbound
from serve.conversation.present import navigation_replies
from serve.conversation.routing import INTENT_COMMANDS
from serve.conversation.store_questions import asked, canonical
from serve.conversation.texts import word
from serve.core.cart_math import FREIGHT_RULE, CartLine, FreightRule, price_cart
from tests.serve.factories import REPO_ROOT, make_settings

STORE_YAML = REPO_ROOT / "configs" / "store.yaml"
ASKED = {
    "payment": [
        "vcs aceitam pix?",
        "tem como tirar um bboleto",  # getting one, a doubled letter
        "da pra gerar um pix?",
        "aceitam cartão de débito?",
        "quais formas de pagamento tem ai?",
        "da pra pagar no boleto?",
        "como eu pago?",
        "como faço\no pagamento?",  # sent in two lines
        "tem como parcelar?",
        "parcela em quantas vezes",
        "Quais meios de pagamento vocês aceitam??",
        "pagamnto com boleto pode?",
        "which payment methods are accepted?",
        "do you take credit cards?",
        "how can i pay",
    ],
    "shipping": [
        "frete gratis a partir de quanto",
        "o frete custa quanto?",
        "vcs tem frete gratis?",
        "como funciona o frete",
        "entregam em todo o brasil?",
        "fretee gratiss acima de qnto?",
        "do you have free shipping?",
        "how much do you charge for shipping?",
    ],
    "delivery": [
        "prazo de entrega é de quantos dias?",
        "quanto tempo demora pra chegar?",
        "em quantos dias chega",
        "demora mt pra entregar?",
        "how long will delivery take?",
        "when will it arrive?",
    ],
    "returns": [
        "posso devolver?",
        "como faço pra trocar",
        "qual a politica de troca",
        "se eu nao gostar posso devolver?",
        "tem reembolso?",
        "devolvr como funciona",
        "what's your return policy?",
        "can i get a refund?",
    ],
    "privacy": [
        "que dados meus vcs tem",
        "vcs guardam meus dados?",
        "o que vcs fazem com meus dados",
        "e a lgpd?",
        "what data do you keep about me?",
    ],
    "privacy_delete": ["quero que vcs apaguem meus dados", "exclui meu cadastro pfv", "delete my personal data please"],
    "hours": [
        "qual horario de atendimento",
        "vcs abrem sabado?",
        "ate que horas vcs atendem?",
        "qual o horário de funcionamento",
        "what are your opening hours?",
        "are you open on sunday?",
    ],
    "contact": ["qual o email de vcs", "vcs tem loja fisica?", "qual o telefone de vcs", "how can i contact you?"],
    "categories": [
        "o que vcs vendem",
        "quais categorias tem?",
        "o que a loja tem?",
        "que tipo de produto vcs vendem",
        "what does the store sell",
        "what kind of products do you have",
    ],
    "bot": [
        "vc é um robô?",
        "to falando com uma pessoa?",
        "é bot?",
        "are you a bot?",
        "am i talking to a real person?",
    ],
    "joke": ["conta uma piada ai", "sabe alguma piada?", "got any jokes?"],
    "off_topic": [
        "qual é a capital do japão?",
        "sera que vai chover hj?",
        "quem ganhou a copa de 2002?",
        "what's the weather like today?",
        "who is the president of brazil?",
    ],
    "how_are_you": ["tudo joia?", "oi, td bem?", "como vc ta?", "boa noite! tudo bom?", "how are you?"],
}
# Shopping, order, complaint and checkout messages: the normal flow answers them, whole.
NOT_ASKED = [
    "teria\nbola de futebol 😅\ndisponivel?",  # a product of the store, not football talk
    "bola de futebol por ate uns 120 pila, existe?",
    "quero um relógio",
    "tem frete grátis esse relógio?",  # about a product: get_product/search shows its freight and the rule
    "aceita pix? quero um relogio",  # a knowledge part never swallows the shopping part
    "quero pagar no pix",
    "pix entao",
    "vai no cartao mesmo",
    "pode ser boleto",
    "cade o meu pedido hein",
    "quando chega meu pedido?",
    "meu pedido ZV00012 chega quando?",
    "quero devolver, veio quebrado",
    "veio com defeito, posso trocar?",  # a complaint: a person, through the intent router
    "tem lençol de casal?",
    "me mostra relógios até 100 reais",
    "oiee",
    "bom dia pessoal",
    "brigada!!",
    "põe no carrinho",
    "quero o segundo",
    "tem presente pra dia dos pais?",
    "quero um quadro verde pro quarto",
    "vcs vendem toalha de banho?",
    "quanto custa o frete da toalha?",
    "me indica um presente pro presidente do clube",
    "ah, desisto",  # giving up, not the right of withdrawal
    "what's the cheapest watch?",
    "add the first one to my cart",
    "i want to pay with card",
]


@pytest.fixture(scope="module")
def knowledge(catalogue) -> StoreKnowledge:
    return StoreKnowledge.load(make_settings(ORDER_DELIVERY_DAYS=9), catalogue)


@pytest.mark.parametrize("topic, text", [(t, x) for t, texts in ASKED.items() for x in texts])
def test_store_questions_are_recognised_as_people_type_them(topic, text):
    assert asked(text) == [topic]


@pytest.mark.parametrize("text", NOT_ASKED)
def test_shopping_orders_and_complaints_are_left_to_the_normal_flow(knowledge, text):
    assert asked(text) == []
    assert knowledge.answer(text) is None


def test_typos_are_corrected_towards_store_words_only():
    assert canonical("devolvr o pagamnto, shiping") == "devolver o pagamento shipping"
    assert canonical("quadro verde pro quarto, dando certo") == "quadro verde para o quarto dando certo"


def test_a_message_with_two_questions_gets_both_answers(knowledge):
    command = knowledge.answer("oi, td bem? aceitam pix? e a entrega demora quantos dias?")
    assert command.topic == "payment+delivery"
    assert command.answer == knowledge.text("payment", "pt") + "\n\n" + knowledge.text("delivery", "pt")


def test_answers_state_the_codes_own_payment_methods_and_delivery_days(knowledge):
    methods = get_args(Checkout.model_fields["payment_method"].annotation)
    for lang, question in (("pt", "vcs aceitam pix?"), ("en", "which payment methods are accepted?")):
        text = knowledge.answer(question, lang).answer
        assert all(word(lang, "pay", m) in text for m in methods)
    assert "9 dias úteis" in knowledge.answer("prazo de entrega é de quantos dias?").answer  # ORDER_DELIVERY_DAYS=9
    assert "9 business days" in knowledge.answer("how long will delivery take?", "en").answer


def test_the_free_shipping_figure_is_the_carts_rule(knowledge, catalogue):
    (free_above,) = amounts_in(knowledge.answer("frete gratis a partir de quanto").answer)
    assert free_above == FREIGHT_RULE.free_above_cents

    def cart(subtotal_cents: int):
        return price_cart([CartLine("p1", "x", subtotal_cents, 1, freight_cents=1590)])

    assert cart(free_above).free_shipping and cart(free_above).freight_cents == 0
    assert not cart(free_above - 1).free_shipping and cart(free_above - 1).freight_cents == 1590
    other = StoreKnowledge.load(
        make_settings(), catalogue, rule=FreightRule(free_above_cents=34_900, extra_unit_bp=5_000)
    )
    text = other.answer("tem frete gratis?").answer
    assert format_brl(34_900) in text and "50%" in text  # read from the rule, not written in the config


def test_categories_are_the_catalogues_best_sellers_in_order(knowledge, catalogue):
    text = knowledge.answer("o que vcs vendem?").answer
    shown = yaml.safe_load(STORE_YAML.read_text(encoding="utf-8"))["store"]["categories_shown"]
    names = [c.name_pt for c in catalogue.categories()]
    positions = [text.index(n) for n in names[:shown]]
    assert positions == sorted(positions) and not any(n in text for n in names[shown:])
    english = knowledge.answer("what does the store sell", "en").answer
    assert catalogue.categories()[0].name_en.replace("_", " ") in english


def test_policies_hours_and_contact_come_from_the_config(knowledge):
    config = yaml.safe_load(STORE_YAML.read_text(encoding="utf-8"))
    returns = knowledge.answer("posso devolver?").answer
    assert "7 dias" in returns and "art. 49" in returns
    assert config["store"]["hours"]["pt"] in knowledge.answer("qual horario de atendimento").answer
    assert config["store"]["hours"]["en"] in knowledge.answer("what are your opening hours?", "en").answer
    assert config["store"]["contact"]["pt"] in knowledge.answer("qual o email de vcs").answer
    privacy = knowledge.answer("que dados meus vcs tem").answer
    assert "número de WhatsApp" in privacy and "LGPD" in privacy and "cartão" in privacy


def test_the_config_repeats_no_amount_the_code_owns():
    assert amounts_in(STORE_YAML.read_text(encoding="utf-8")) == []


def test_a_bad_config_is_refused_at_load(tmp_path, catalogue):
    config = yaml.safe_load(STORE_YAML.read_text(encoding="utf-8"))
    del config["answers"]["payment"]["en"]
    missing = tmp_path / "missing.yaml"
    missing.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    with pytest.raises(StoreConfigError, match="answers.payment.en"):
        StoreKnowledge.load(make_settings(), catalogue, path=missing)
    config = yaml.safe_load(STORE_YAML.read_text(encoding="utf-8"))
    config["answers"]["shipping"]["pt"] = "Frete grátis acima de {free_shipping_from}"
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    with pytest.raises(StoreConfigError, match="free_shipping_from"):
        StoreKnowledge.load(make_settings(), catalogue, path=unknown)
    assert StoreKnowledge.load(make_settings(STORE_CONFIG=str(Path("configs") / "store.yaml")), catalogue).texts


@pytest.mark.parametrize("text", ["conta uma piada ai", "qual é a capital do japão?", "vc é um robô?"])
def test_chit_chat_and_off_topic_steer_back_to_shopping(knowledge, text):
    command = knowledge.answer(text)
    replies = navigation_replies(command.navigation, lang="pt", answer=command.answer, topic=command.topic)
    assert replies[0].body == command.answer and len(command.answer) < 300
    assert isinstance(replies[-1], ButtonsReply) and "recommend" in [b[0] for b in replies[-1].buttons]


def test_answers_that_point_to_a_person_carry_that_button(knowledge):
    for text in ("posso devolver?", "que dados meus vcs tem", "vc é um robô?"):
        command = knowledge.answer(text)
        replies = navigation_replies(command.navigation, answer=command.answer, topic=command.topic)
        assert "botão abaixo" in command.answer and ("human", "Falar com atendente") in replies[-1].buttons


@pytest.mark.parametrize(
    "text",
    ["chama o responsavel 😍😍", "posso falar com o vendedor?", "quero falar com uma pessoa de verdade", "atendente pfv",
     "real human please", "transfer me to someone", "me passa pra um atendente humano", "cansei do robô, quero gente",
     "cchama o responsável", "prefiro um aetndente humano", "quero atendiento humanoo"],  # as typed
)  # fmt: skip
def test_a_request_for_a_person_and_nothing_else_calls_one(knowledge, text):
    command = knowledge.answer(text)
    assert command.calls == INTENT_COMMANDS["human_request"].calls and command.topic == "person"


@pytest.mark.parametrize(
    "text",
    [
        "quero falar com alguém sobre meu pedido atrasado",
        "tem vendedor pra me ajudar a escolher um relogio?",
        "oi gente, queria ver uns relógios",
    ],
)
def test_a_person_asked_for_with_more_to_say_is_left_to_the_normal_flow(knowledge, text):
    assert knowledge.answer(text) is None  # the complaint or the search reads the rest


def test_a_deletion_request_is_a_handoff_and_how_are_you_is_a_greeting(knowledge):
    assert knowledge.answer("apaguem meus dados pfv").calls == (("handoff_to_human", {"reason": LGPD_REASON}),)
    hello = knowledge.answer("tudo certo?")
    assert hello.navigation == "greeting"
    (reply,) = navigation_replies(hello.navigation, name="Ana", answer=hello.answer)
    assert reply.body.startswith("Olá, Ana! 👋 " + knowledge.text("how_are_you", "pt"))


def test_freight_and_delivery_questions_about_the_product_in_focus_get_its_freight(knowledge):
    freight = knowledge.answer("frete sai quanto?", focus="6c960ba6")
    assert freight.calls == (("get_product", {"product_id": "6c960ba6"}),) and freight.topic == "shipping"
    assert freight.answer is None  # present.shipping_text words its freight and the free-shipping rule
    delivery = knowledge.answer("prazo de entrega é de quantos dias?", focus="6c960ba6")
    assert delivery.calls == freight.calls and delivery.answer == knowledge.text("delivery", "pt")
    assert knowledge.answer("frete sai quanto?").navigation == "answer"  # nothing in focus: the store's rule
    assert knowledge.answer("posso devolver?", focus="6c960ba6").topic == "returns"


def test_a_payment_question_with_a_full_cart_offers_the_payment_buttons(knowledge):
    command = knowledge.answer("consigo pagar no boleto?", cart=True)
    assert command.navigation == "checkout" and command.answer == knowledge.text("payment", "pt")
    text, buttons = navigation_replies(command.navigation, answer=command.answer, topic=command.topic)
    assert text.body == command.answer and [b[0] for b in buttons.buttons] == [
        "checkout:pix",
        "checkout:card",
        "checkout:boleto",
    ]
    assert knowledge.answer("consigo pagar no boleto?").navigation == "answer"  # empty cart: just the facts


def _media(kind: str, **fields) -> Inbound:
    return Inbound(f"wamid.{kind}", "5511999990000", kind, 1_700_000_000, **fields)


def test_media_get_an_honest_note_and_reactions_none(knowledge):
    assert "ouvir áudios" in knowledge.media([_media("audio")]).answer
    assert "ver imagens" in knowledge.media([_media("image")]).answer
    assert "listen" in knowledge.media([_media("audio")], "en").answer
    location = knowledge.media([_media("location", location=(-23.5, -46.6), text="Av. Paulista")])
    assert location.topic == "location" and "frete" in location.answer and "CEP" not in location.answer
    both = knowledge.media([_media("audio"), _media("image")])
    assert both.topic == "audio+image"
    assert knowledge.media([_media("reaction", emoji="👍")]).navigation == "silent"
    assert knowledge.media([_media("sticker")]).navigation == "silent"
    assert navigation_replies("silent") == []
    # words lead: a caption (or a text in the same burst) goes to the normal flow with the note
    assert knowledge.media([_media("image", text="tem esse em azul?")]) is None
    assert knowledge.media([_media("audio"), _media("text", text="quero um relógio")]) is None
