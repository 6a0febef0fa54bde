import pytest

from serve.contract import format_brl, parse_brl_cents


@pytest.mark.parametrize(
    ("cents", "text"),
    [(0, "R$ 0,00"), (5, "R$ 0,05"), (4990, "R$ 49,90"), (123456, "R$ 1.234,56"), (100000000, "R$ 1.000.000,00")],
)
def test_format_brl(cents, text):
    assert format_brl(cents) == text
    assert parse_brl_cents(f"sai por {text} no pix") == [cents]


def test_format_refuses_floats():
    with pytest.raises(TypeError):
        format_brl(49.9)


def test_parse_finds_every_amount_in_whatsapp_style_text():
    text = "O fone custa R$49,9 e o frete R$ 12. Total: R$ 1.061,90!"
    assert parse_brl_cents(text) == [4990, 1200, 106190]
    assert parse_brl_cents("sem preço aqui, 50 reais") == []
