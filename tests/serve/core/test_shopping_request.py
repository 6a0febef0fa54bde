"""Customers' words as a shopping request: budgets in cents, categories from everyday words, sort
hints, and search with them as hard filters (serve/core/budget.py, serve/core/shopping_request.py)."""

import pytest
import yaml

from pipelines.olist_names import BANK_OF, BANKS, CATEGORY_PT
from serve.core.budget import budget_cents, find_budgets, fold
from serve.core.shopping_request import LEXICON_PATH, category_slugs, parse_request, search_request


@pytest.mark.parametrize(
    "text, cents",
    [
        ("relógio até 150 reais", 15000),
        ("até 40 reais", 4000),
        ("menos de 100", 10000),
        ("abaixo de R$ 100", 10000),
        ("no máximo 50 conto", 5000),
        ("posso gastar no macimo 100", 10000),  # a thumb slip in "máximo"
        ("tenho 100 pra gatsar", 10000),
        ("quero 2 pra girar", None),  # no spending word: a quantity
        ("posso gastar no \njáximo 100", 10000),  # words (and a slip) between "gastar" and the amount
        ("posso gastar 2 horas", None),
        ("no maxmo 50", 5000),
        ("uns 30 reais", 3000),
        ("under $50", 5000),
        ("less than 100 reais", 10000),
        ("tenis de corrida R$ 199,90 no maximo", 19990),
        ("sofa ate 1.500 reais", 150000),
        ("bicicleta ate 1k", 100000),
        ("celular ate mil reais", 100000),
        ("notebook ate 3 mil", 300000),
        ("ate cem reais", 10000),
        ("so tenho 70 pra gastar num tenis", 7000),
        ("posso gastar 80 num presente", 8000),
        ("I can spend 45 on a gift", 4500),
        ("tenho 2 filhos pequenos", None),
        ("entre 50 e 100 reais", 10000),
        ("$49.99 max", 4999),
        ("tenho uns 100 reais, tem relogio ate 80?", 8000),  # the lower ceiling wins
        ("perfume 100 ml ate 120 reais", 12000),
        ("bola oficial tamanho 5 de ate 90", 9000),
        # numbers that are not budgets
        ("perfume 100 ml", None),
        ("2 unidades", None),
        ("kit com 3", None),
        ("brinquedo pra afilhada de 7 anos", None),
        ("rack pra tv ate 55 polegadas", None),
        ("ate 3 anos", None),
        ("celular 128gb", None),
        ("lampada led h4", None),
        ("arvore de natal 1,8m", None),
        ("mais de 100 reais", None),
        ("acima de 50", None),
        ("o de 59,90", None),  # a price that points at a listed product, not a ceiling
        ("em 10x sem juros", None),
        ("uns 3 travesseiros", None),
    ],
)
def test_budgets_are_integer_cents_and_sizes_are_not_budgets(text, cents):
    assert budget_cents(text) == cents
    assert parse_request(text).max_price_cents == cents
    assert all(isinstance(b.cents, int) for b in find_budgets(text))


def test_budget_span_covers_its_money_words_and_fold_keeps_positions():
    text = "Relógio masculino, no máximo R$ 200,00 pfv"
    (b,) = find_budgets(text)
    assert len(fold(text)) == len(text) and fold(text)[b.span[0] : b.span[1]] == "no maximo r$ 200,00"
    assert parse_request(text).words == ("relogio", "masculino")


@pytest.mark.parametrize(
    "text, must, must_not",
    [
        ("coisas de cozinha", {"utilidades_domesticas"}, {"moveis_cozinha_area_de_servico_jantar_e_jardim"}),
        ("algo pra cuidar da pele", {"beleza_saude"}, {"cool_stuff", "moveis_decoracao"}),
        ("presente pra mãe que gosta de cuidar da pele", {"beleza_saude", "perfumaria"}, {"cool_stuff"}),
        ("coisa de bebê", {"bebes"}, {"brinquedos"}),
        ("alguma coisa pro carro", {"automotivo"}, set()),
        ("ferramenta de jardim", {"ferramentas_jardim"}, {"construcao_ferramentas_construcao"}),
        ("brinquedo pra afilhada de 7 anos", {"brinquedos"}, {"pet_shop"}),
        ("brinquedo pro meu cachorro", {"pet_shop"}, {"brinquedos"}),
        ("presente pra sobrinho de 5 anos", {"brinquedos"}, {"pet_shop", "relogios_presentes"}),
        ("queria ver uns relógios", {"relogios_presentes"}, {"moveis_decoracao"}),
        ("relógio de parede", {"moveis_decoracao"}, {"relogios_presentes"}),
        ("um perfume bom", {"perfumaria"}, set()),
        ("tênis pra corrida", {"fashion_calcados"}, {"esporte_lazer"}),  # the product word wins a tie
        ("cadeirinha pro carro pra bebê", {"bebes"}, {"automotivo"}),
        ("a toy for my 6 year old niece", {"brinquedos"}, {"pet_shop"}),
        ("skin care gift for my mom", {"beleza_saude"}, set()),
    ],
)
def test_everyday_words_choose_categories(text, must, must_not):
    categories = set(parse_request(text).categories)
    assert must <= categories and not (must_not & categories), categories


@pytest.mark.parametrize(
    "text, sort",
    [
        ("perfume barato", "price_asc"),
        ("qual o mais barato de fone", "price_asc"),
        ("relogio mais vendido", "best_selling"),
        ("os mais bem avaliados em brinquedo", "rating"),
        ("cheapest perfume you have", "price_asc"),
        ("best rated headphones", "rating"),
        ("o mais caro que tiver", "price_desc"),
        ("relogio ate 150 reais", None),
    ],
)
def test_sort_hints(text, sort):
    assert parse_request(text).sort == sort


def test_product_words_stay_and_recipients_sorts_and_filler_go():
    r = parse_request("oi, queria ver uns relógios bonitos pro meu marido, os mais vendidos")
    assert r.words == ("relogios",) and r.sort == "best_selling"
    assert parse_request("coisas de cozinha").words == ()  # an aisle word only chooses the aisle
    assert parse_request("cheap garden hose").words == ("garden", "mangueira")  # English → catalogue word
    assert parse_request("qual baraca mais em conta? tenho 50 pra gastar").words == ("baraca",)  # budget talk goes


def test_category_text_reads_back_to_the_same_categories():
    r = parse_request("presente pra mãe que gosta de cuidar da pele, até 100 reais")
    assert parse_request(r.category_text).categories == r.categories


def test_categories_and_budget_are_hard_filters_in_search(catalogue):
    kitchen = search_request(catalogue, parse_request("coisas de cozinha"), limit=10)
    assert kitchen and {p.category for p in kitchen} == {"utilidades_domesticas"}
    skin = search_request(catalogue, parse_request("presente pra mãe que gosta de cuidar da pele"), limit=10)
    assert skin and {p.category for p in skin} == {"beleza_saude"}  # the fixture files perfume there
    watches = search_request(catalogue, parse_request("relógio até 190 reais"), limit=10)
    assert [p.name for p in watches] == ["Relógio Feminino Dourado"]  # R$ 179,90; the R$ 199,90 one is out
    assert search_request(catalogue, parse_request("relógio até 150 reais")) == []
    cheap = search_request(catalogue, parse_request("garrafa térmica barata"), limit=10)
    assert [p.price_cents for p in cheap] == sorted(p.price_cents for p in cheap) and len(cheap) == 2


def test_a_product_word_filed_elsewhere_in_this_catalogue_still_finds_the_product(catalogue):
    # the lexicon puts "fone bluetooth" in telefonia (where ingest names them); the fixture files
    # its only one under informatica: the words win over a category no product of which has them
    found = search_request(catalogue, parse_request("fone bluetooth"))
    assert [p.name for p in found] == ["Fone de Ouvido Bluetooth"]


def test_category_arguments_read_names_then_everyday_words(catalogue):
    assert category_slugs(catalogue, "Cama, mesa e banho") == ("cama_mesa_banho",)
    assert category_slugs(catalogue, "cozinha") == ("utilidades_domesticas",)  # not furniture
    assert category_slugs(catalogue, None) == ()


def test_lexicon_names_only_olist_categories():
    raw = yaml.safe_load(LEXICON_PATH.read_text(encoding="utf-8"))
    slugs = {s for key in raw["categories"] for s in key.split()}
    assert slugs <= set(CATEGORY_PT), slugs - set(CATEGORY_PT)


def test_lexicon_never_hides_a_product_from_its_own_name():
    """Ingest names products from one word bank per group of categories: a product's own noun must
    choose all of that group's categories (or none), or the hard filter would hide it."""
    hidden = []
    for bank, slugs in BANK_OF.items():
        for noun in BANKS[bank].nouns.split("|"):
            name, _, *specs = noun.split(":")
            for text in [name] + [f"{name} {s}" for s in (specs[0].split(",") if specs else [])]:
                chosen = set(parse_request(text).categories)
                if chosen and not set(slugs.split()) <= chosen:
                    hidden.append((text, sorted(set(slugs.split()) - chosen)))
    assert hidden == []
