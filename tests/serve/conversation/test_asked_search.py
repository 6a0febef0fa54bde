"""Requests for products the server searches itself, whatever the classifier reads in them, and the
cart's total asked in words (serve/conversation/shopping.py: asked_search; routing.py:
shopping_command, cart_total_command). Phrasings written for these tests."""

import asyncio
import itertools

import pytest

from serve.conversation.messages import Inbound
from serve.conversation.routing import cart_total_command, shopping_command
from serve.conversation.said import read_said
from serve.conversation.shopping import NOT_A_SEARCH
from serve.core.budget import fold
from tests.fakes.fake_llm import FakeLLM
from tests.serve.factories import PHONE

_ids = itertools.count(1)
_loop = asyncio.new_event_loop()


@pytest.mark.parametrize(
    "text, category",
    [
        ("vocês trabalham com panela?", "panela"),
        ("to procurando uns utensílios pra cozinhar", "utensilios ou cozinhar"),  # an aisle, no product word
        ("alguma ideia de mimo pra minha sogra?", "mimo ou sogra"),  # a gift: the recipient chooses
        ("boa tarde! tem edredom queen?", "edredom"),
        ("to atras de uma garrafa termica", "garrafa termica"),  # "atrás de" is looking for, not a delay
        ("any yoga mats?", "yoga mats"),
        ("looking for a present for my wife", "present or wife"),
    ],
)
def test_a_request_for_products_of_this_catalogue_is_searched(catalogue, text, category):
    command = shopping_command(text, catalogue)
    assert command is not None and command.tool == "search_products"
    args = command.calls[0][1]
    assert args["category"].replace(" or ", " ou ") == category.replace(" or ", " ou ")
    assert "max_price" not in args  # no budget needed


@pytest.mark.parametrize(
    "text, query, extra",
    [
        ("vcs tem garrafas?", "garrafas", {}),  # no aisle word: the kind its product names start with
        ("qual garrafa mais em conta? tenho 60 pra gastar", "garrafa", {"max_price": 60.0, "sort": "price_asc"}),
        ("i'm after a garrafa", "garrafa", {}),
    ],
)
def test_a_kind_of_product_the_catalogue_names_is_searched_without_an_aisle_word(catalogue, text, query, extra):
    command = shopping_command(text, catalogue)
    assert command is not None and command.calls[0][1] == {"query": query} | extra


@pytest.mark.parametrize("text", ["tem garantia?", "tenho uma duvida", "quero saber uma coisa", "o que vcs vendem?"])
def test_words_that_start_no_product_name_are_no_search(catalogue, text):
    assert shopping_command(text, catalogue) is None


def test_the_request_keeps_its_order_and_budget(catalogue):
    ((_, args),) = shopping_command("preciso de um relogio barato pro meu marido", catalogue).calls
    assert args["sort"] == "price_asc" and "relogio" in args["category"]
    ((_, args),) = shopping_command("queria umas toalhas, no maximo 70 reais", catalogue).calls
    assert args["max_price"] == 70.0


@pytest.mark.parametrize(
    "text",
    [
        "minha capinha veio rasgada, quero resolver",  # a complaint
        "quero falar com um atendente sobre relógios",  # a person
        "o lençol que pedi ainda não chegou",  # an order
        "tira a toalha do carrinho",  # the cart
        "posso pagar a luminária no pix?",  # paying
        "meu relogio parou, vcs consertam?",  # a broken product
        "quero 3 travesseiros",  # a quantity: a purchase, a list would lose the 3
        "minha mãe adora o relógio que dei",  # asks for nothing
        "tem algo pra minha tia?",  # a recipient alone, no gift: could be anything
        "algo pra um menino de 8 anos brincar",  # toys: not in this catalogue
    ],
)
def test_other_requests_and_unknown_aisles_are_not_searched(catalogue, text):
    assert shopping_command(text, catalogue) is None


def test_product_names_that_start_like_other_requests_are_no_other_request():
    assert NOT_A_SEARCH.search(fold("vcs tem quebra-cabeça de 500 peças?")) is None
    assert NOT_A_SEARCH.search(fold("tem trocador portátil?")) is None
    assert NOT_A_SEARCH.search(fold("meu celular quebrou")) and NOT_A_SEARCH.search(fold("tá atrasado"))


@pytest.mark.parametrize(
    "text, total",
    [
        ("quanto ficou tudo?", True),
        ("e o total com entrega?", True),
        ("qual o valor total?", True),
        ("how much do I owe with shipping?", True),
        ("quanto fica o frete?", False),  # the freight of the product in focus
        ("quanto custa a toalha?", False),  # a price
        ("quanto deu meu pedido?", False),  # an order
    ],
)
def test_what_the_cart_came_to_is_the_cart(text, total):
    expected = (("view_cart", {}),) if total else None
    command = cart_total_command(text, has_cart=True)
    assert (command.calls if command else None) == expected
    assert cart_total_command(text, has_cart=False) is None  # nothing in it: the normal flow


def test_recipients_ages_and_plural_demonstratives_name_no_product():
    more = read_said("me manda mais dois, é pro meu sobrinho")
    assert (more.quantity, more.more, more.name_words) == (2, True, [])
    best = read_said("qual dessas tem a melhor nota?")
    assert [r.kind for r in best.refs] == ["best_rated"] and best.name_words == []
    assert read_said("tem boneca pra menina de 4 anos?").quantity is None  # an age, not four units


# --- through the agent: a classifier that reads a person or a greeting in a shopping request ---
class FixedIntents:
    def __init__(self, intent: str, p: float):
        self.intent, self.p = intent, p

    def predict_with_confidence(self, texts):
        return [(self.intent, self.p) for _ in texts]


def say(agent, factory, cid, body, choice_id=None):
    kind = "button_reply" if choice_id else "text"
    msg = Inbound(f"wamid.q{next(_ids)}", PHONE, kind, 1_700_000_000, text=body, choice_id=choice_id)
    return _loop.run_until_complete(agent.respond(factory, cid, [msg]))


def shown(replies) -> str:
    return " ".join(str(r) for r in replies)


def test_a_shopping_request_is_searched_before_the_classifier_can_hand_it_off(env, llm):
    agent, factory, cid = env
    agent.intents = FixedIntents("human_request", 0.95)  # sure, and wrong
    replies = say(agent, factory, cid, "oi, vcs tem garrafa termica? é pro meu pai que vive viajando")
    assert llm.requests == []  # no model either
    assert "Garrafa Térmica" in shown(replies) and "handoff" not in shown(replies).lower()
    assert "equipe" not in shown(replies)


def test_a_complaint_naming_a_product_still_reaches_a_person(env, llm):
    agent, factory, cid = env
    agent.intents = FixedIntents("complaint", 0.95)
    replies = say(agent, factory, cid, "a garrafa termica que comprei veio amassada, quero resolver")
    assert "equipe" in shown(replies) and "Garrafa Térmica Café" not in shown(replies)


def test_off_the_model_searches_them(env, llm):
    agent, factory, cid = env
    agent.intents = None
    agent.settings.AGENT_SERVER_SEARCH = False
    llm.push(FakeLLM.text("Temos sim!"))
    say(agent, factory, cid, "vcs tem garrafa termica?")
    assert len(llm.requests) == 1


def test_the_best_rated_of_a_list_and_what_the_cart_came_to(env, llm):
    agent, factory, cid = env
    agent.intents = FixedIntents("greeting", 0.95)
    listed = shown(say(agent, factory, cid, "quais relógios vcs tem?"))
    assert "Relógio Masculino" in listed and "Relógio Feminino" in listed
    rated = sorted(agent.catalogue.search("relogio", limit=5), key=lambda p: -p.review_score)[0]
    assert rated.name in shown(say(agent, factory, cid, "e desses, qual tem a melhor avaliação?"))
    say(agent, factory, cid, "Adicionar", choice_id=f"add_to_cart:{rated.product_id}")
    total = shown(say(agent, factory, cid, "qto deu tudo com o frete?"))
    assert "Total" in total and rated.name in total
    assert llm.requests == []
