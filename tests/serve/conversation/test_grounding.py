from serve.contract import format_brl
from serve.conversation.grounding import PriceFacts, amounts_in, rewrite, ungrounded


def facts() -> PriceFacts:
    f = PriceFacts()
    f.add_product("Jogo de Lençol Casal Algodão 200 fios", 8990)
    f.add_product("Toalha de Banho Felpuda", 3450)
    f.add_tool_result('{"cart": {"subtotal": "R$ 124,40", "freight": "R$ 0,00", "total": "R$ 1.124,40"}}')
    return f


def test_amounts_in_reads_ptbr_and_malformed_spellings():
    assert amounts_in("de R$ 1.234,56 por R$99,9 ou R$ 49.90, ou 20 reais") == [123456, 9990, 4990, 2000]


def test_known_amounts_are_grounded():
    f = facts()
    assert ungrounded("O lençol sai por R$ 89,90 e o total fica R$ 1.124,40.", f) == []
    assert ungrounded("Total R$ 124,40 com frete R$ 0,00", f) == []


def test_invented_amount_is_flagged():
    assert ungrounded("O lençol está por R$ 59,90 hoje!", facts()) == [5990]


def test_rewrite_replaces_amount_of_named_product_from_catalogue():
    r = rewrite("Ótima escolha! O Jogo de Lençol Casal sai por R$ 59,90. Quer adicionar?", facts())
    assert r.text == f"Ótima escolha! O Jogo de Lençol Casal sai por {format_brl(8990)}. Quer adicionar?"
    assert (r.replaced, r.dropped) == (1, 0)


def test_rewrite_drops_sentence_with_untied_amount():
    r = rewrite("Temos um desconto de R$ 15,00 hoje. A toalha de banho felpuda é ótima!", facts())
    assert r.text == "A toalha de banho felpuda é ótima!"
    assert (r.replaced, r.dropped) == (0, 1)
    assert ungrounded(r.text, facts()) == []


def test_rewrite_with_dot_decimal_replaces_whole_span():
    r = rewrite("A Toalha de Banho Felpuda custa R$ 34.90.", facts())
    assert r.text == "A Toalha de Banho Felpuda custa R$ 34,50."


def test_customer_budget_can_be_echoed():
    f = facts()
    f.add_amounts(amounts_in("quero algo até R$ 100"))
    assert ungrounded("Separei opções até R$ 100,00 para você.", f) == []
