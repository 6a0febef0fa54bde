"""pipelines.pii: what is scrubbed (BR and international formats) and what must survive (money, ids)."""

from collections import Counter

import pytest

from pipelines.pii import is_valid_cpf, scrub_pii


@pytest.mark.parametrize(
    ("text", "expected", "kind"),
    [
        ("meu email é ana.silva+x@gmail.com.br ok", "meu email é [email] ok", "email"),
        ("zap (11) 98765-4321", "zap [telefone]", "phone"),
        ("+55 11 98765-4321 chama", "[telefone] chama", "phone"),
        ("liga 11987654321", "liga [telefone]", "phone"),
        ("fixo 21 3456-7890", "fixo [telefone]", "phone"),
        ("9876-5432", "[telefone]", "phone"),
        ("call (555) 123-4567", "call [telefone]", "phone"),
        ("or +44 20 7946 0958", "or [telefone]", "phone"),
        ("cpf 529.982.247-25", "cpf [cpf]", "cpf"),
        ("cpf 52998224725", "cpf [cpf]", "cpf"),  # bare 11 digits with valid CPF check digits
        ("cep 01310-100", "cep [cep]", "cep"),
        ("01.310-100 SP", "[cep] SP", "cep"),
    ],
)
def test_scrubs_each_kind(text, expected, kind):
    counts = Counter()
    assert scrub_pii(text, counts) == expected
    assert counts == {kind: 1}


@pytest.mark.parametrize(
    "text",
    [
        "custa R$ 1.234,56 e R$ 49,90 (ou R$ 1.234.567,89)",
        "pedido e481f51cbdc54678b7cc49136f2d6af7, produto 1e9e8ef04dbcff4541ed26657ea517e5",
        "quero 2 unidades, 3x de 100, entrega em 12/05/2024 às 14:30, nota 4.5",
        "",
    ],
)
def test_leaves_money_ids_and_dates_alone(text):
    assert scrub_pii(text) == text


def test_cpf_check_digits():
    assert is_valid_cpf("52998224725") and not is_valid_cpf("52998224724") and not is_valid_cpf("11111111111")
    assert scrub_pii(None) is None
