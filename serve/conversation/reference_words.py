"""The words customers point and ask with, pt-BR first and English second, accents stripped
(serve/conversation/said.py reads a message with them).

Written from how people shop by chat, not from any evaluation text (simulator/phrasing_bank.yaml,
hand-written conversations): those measure whether these tables generalise.
"""

from __future__ import annotations

import difflib
import re
import unicodedata

from serve.core.spelling import respell


def _table(spec: str) -> dict[str, int]:
    return {w: int(n) for part in spec.split(";") for n, *ws in [part.split()] for w in ws}


def _set(spec: str) -> frozenset[str]:
    return frozenset(spec.split())


ORDINALS = _table(
    "1 primeiro primeira first; 2 segundo segunda second; 3 terceiro terceira third; 4 quarto quarta fourth;"
    "5 quinto quinta fifth; 6 sexto sexta sixth; 7 setimo setima seventh; 8 oitavo oitava eighth;"
    "9 nono nona ninth; 10 decimo decima tenth; -1 ultimo ultima last; -2 penultimo penultima"
)
NUMBERS = _table(
    "1 um uma one; 2 dois duas two; 3 tres three; 4 quatro four; 5 cinco five; 6 seis six; 7 sete seven;"
    "8 oito eight; 9 nove nine; 10 dez ten; 11 onze eleven; 12 doze twelve duzia dozen"
)
ARTICLES = _set(
    "o a os as do da dos das no na nos nas pelo pela ao the esse essa este desse dessa deste desta nesse nessa "
    "aquele aquela daquele daquela that this"
)
POSITION_NOUNS = _set("opcao item produto modelo numero nro one option choice number")
NOT_A_POSITION = _set(
    "via vez feira mao quero queria preciso vou eu que i time order compra voce vc vcs voces ele ela day week hand"
)  # "2ª via", "segunda-feira", "segunda mão", "primeiro quero...", "segundo você", "the second day"
QTY_UNITS = _set("unidade unidades un und unid unids unit units pcs x itens items")
SPEC_UNITS = _set(
    "vezes parcelas ml l lt litro litros w cm mm m kg g gb pecas peca fios lugares dpi h polegadas pol pares "
    "anos ano aninhos meses mes years year months month"
)
PRICE_AFTER = _set("reais real conto contos pila pilas bucks")
BUDGET = _set("ate under abaixo menos max maximo below than budget orcamento")
QTY_BEFORE = _set("pra para to so apenas just only ve x")  # "muda pra 3", "só 1", "x2"
QTY_AFTER = QTY_UNITS | _set("do da dos das desse dessa deste of")  # "2 do segundo", "duas dessa"
ONE_COUNTED_AFTER = _set("mais more another so apenas just only")  # "mais um", "só uma": 1, not an article
ONE_COUNTED_BEFORE = QTY_UNITS | _set("more so do da desse dessa")  # "uma unidade", "um só", "one more"
NOT_MORE = _set("pouco pouquinho barato barata caro cara")  # "mais um pouco", "mais um barato": no quantity
REMOVE = _set(
    "tira tirar tire retira retirar retire remove remover remova exclui excluir exclua apaga apagar deleta delete"
)
# "esquece o lençol", "cancel the towel": a removal only of a product named that is in the cart
LET_GO = _set("esquece esquecer cancela cancelar desisti desistir forget cancel drop ditch scratch lose pull")
ADD = _set(
    "quero qro kero queria querer levo leva levar poe coloca colocar coloque bota botar adiciona adicionar adicione "
    "acrescenta acrescentar inclui incluir comprar compro fico escolho pega pegar separa manda mandar add take want "
    "buy get "
    "put grab need preciso"
)
DETAILS = _set(
    "conta contar fala falar fale mostra mostrar mostre ver veja detalhe detalhes info informacao informacoes "
    "descricao saber sobre foto fotos tell show details detail describe about photo picture see"
)
CHANGE = _set(
    "muda mudar altera alterar deixa deixar aumenta aumentar diminui diminuir corrige corrigir atualiza atualizar "
    "troca trocar ajusta ajustar make change update set"
)
CHECKOUT = _set(
    "fecha fechar feche finaliza finalizar finalize conclui concluir checkout pagar pago pagando pay paying gerar gera link "
    "complete finish proceed"
)
METHODS = {
    "pix": "pix",
    "cartao": "card",
    "credito": "card",
    "debito": "card",
    "card": "card",
    "boleto": "boleto",
    "slip": "boleto",
}
SHIPPING = _set("frete entrega envio prazo chega shipping delivery")
NEGATION = _set("nao n nem dont don not")
DEMONSTRATIVES = _set(
    "esse essa este isso isto ele ela dele dela desse dessa deste desta nesse nessa aquele aquela esses essas "
    "this that it"
)
ACCEPT = _set(
    "sim pode ser isso quero claro yes yep sure esse essa este esta mesmo msm ai por favor pfv please this that "
    "one it levo vou fechado fechou bora"
)
QUESTION = _set("tem aceita aceitam parcela parcelar parcelado desconto quanto how accept can")
FILLER = _set(
    "me mim eu vc voce pra para por favor pfv pls please carrinho cart no na ai la entao ok okay oi ola so apenas "
    "just only mesmo msm tambem tb e and of de do da com with pode vou i ill will agora ja sim quer um uma umas uns sera "
    "beleza blz otimo legal show perfeito certo bom boa gostei adorei amei top massa isso obrigado obrigada valeu "
    "fechou fechado yes thanks cool great nice then hmm ah opa entao ser mais more another quero bem em conta "
    "barato barata baratinho caro cara avaliado avaliada avaliacao avaliacoes preco melhor nota cheapest expensive priciest "
    "most least lowest price best top highest rated reviewed dela dele deles lista list esse essa que qual custa "
    "costs check out rid longer total eram seriam real vez instead actually pro pros pras num numa tbm dar dou daria give desses dessas destes destas daqueles daquelas nesses nessas esses essas estes estas can could you would like let lets sounds good manda mandar joga quantidade qtd qtde quantity those these them sao seria anymore bora cada each verdade vdd actually limpa limpar esvazia esvaziar zera zerar clear empty era foi so isso tudo todos todas ambos ambas both all outro outra other into onto pedido "
    "enganei engano errei errado interessei interessou escolhi escolho escolher decidi prefiro precisar precisaria "
    "chose picked pick choose mistake wrong yep yeah yup ya sure alright claro"
)
# Who a product is for ("vou dar pra prima dela", "for my sister"): after pra/para/for they say
# nothing about which product, so they are no name words.
RECIPIENTS = _set(
    "mae mamae pai papai filho filha filhos filhas irmao irma primo prima tio tia avo vo vovo neto neta sobrinho "
    "sobrinha afilhado afilhada madrinha padrinho esposa marido namorada namorado amigo amiga amigos amigas "
    "cunhado cunhada sogra sogro chefe professora professor colega vizinha vizinho mom mum dad mother father son "
    "daughter brother sister cousin aunt uncle wife husband girlfriend boyfriend friend niece nephew grandma "
    "grandpa grandson granddaughter boss teacher neighbour neighbor"
)
FOR_WHOM = _set("pra para pro pros pras for to")
POSSESSIVES = _set("minha meu minhas meus sua seu suas seus nossa nosso a o as os uma um my her his our their the")
NOT_TYPOS = _set("quanto quanta quando quantos quantas segura seguro segue primo prima compra compras")
# words that are not part of a product's name
KNOWN = frozenset().union(ORDINALS, NUMBERS, ARTICLES, POSITION_NOUNS, QTY_UNITS, QTY_BEFORE, PRICE_AFTER, FILLER)
KNOWN = KNOWN.union(
    REMOVE, LET_GO, ADD, DETAILS, CHANGE, CHECKOUT, METHODS, SHIPPING, NEGATION, DEMONSTRATIVES, POSSESSIVES, QUESTION
)
TYPO_TARGETS = sorted(w for w in ORDINALS if len(w) >= 5)
# Two neighbouring letters swapped ("queor", "manad") or one letter doubled ("bboleto", "maiis")
# are the commonest slips of a thumb; an unknown word one such slip away from an action word, a
# payment method or "mais" is that word.
SLIP_TARGETS = frozenset(
    w
    for w in ADD | CHANGE | REMOVE | LET_GO | CHECKOUT | POSITION_NOUNS | set(METHODS) | {"mais", "pedido"}
    if len(w) >= 3
)
# A letter the thumb missed ("boleo", "crtao", "lvar", "adicona"): long words only, where a word
# one letter short is rarely another word (those that are, such as "compra", are NOT_TYPOS)
DROP_TARGETS = sorted(
    w for w in ADD | CHANGE | REMOVE | LET_GO | CHECKOUT | set(METHODS) | {"esses", "essas"} if len(w) >= 5
)
LONG = 6  # from this length, a word one letter off an action word is that word, not another word
LONG_TARGETS = frozenset(w for w in SLIP_TARGETS if len(w) >= LONG)
_ARTS = "(?:o|a|os|as|do|da|no|na|pelo|pela|esse|essa|the)"
SUPERLATIVES = (
    ("cheapest", rf"\b{_ARTS} (?:mais barat|mais em conta|de menor preco|menor preco)|\b(?:cheapest|least expensive)"),
    ("dearest", rf"\b{_ARTS} (?:mais car[oa]\b|de maior preco|maior preco)|\b(?:most expensive|priciest)\b"),
    (
        "best_rated",
        rf"\b{_ARTS} (?:mais bem avaliad|melhor avaliad|melhor(?:es)? avaliac|melhor nota|maior nota)"
        r"|\b(?:best|top|highest) (?:rated|reviewed)\b",
    ),
)
TOKEN = re.compile(
    r"(\d{1,2})(?:o|a|st|nd|rd|th)(?![a-z\d])|r\$|\$|#|\d{1,3}(?:\.\d{3})+(?:,\d{1,2})?|\d+(?:[.,]\d{1,2})?(?!\d)"
    r"|[a-z]+|[,;!?+]"
)


def words_of(text: str) -> list[str]:
    """Lowercase tokens without accents: words, numbers ("59,90"), ordinals ("#2" for "2º"/"2nd"), marks."""
    text = unicodedata.normalize("NFKD", text.lower().replace("°", "º"))
    text = "".join(c for c in text if not unicodedata.combining(c))
    out = []
    for m in TOKEN.finditer(text):
        token = f"#{m.group(1)}" if m.group(1) else m.group(0)
        if token.isalpha() and len(token) >= 4 and token not in KNOWN and token not in NOT_TYPOS:
            token = _slipped(token) or token
        if token.isalpha() and len(token) >= LONG and token not in KNOWN and token not in NOT_TYPOS:
            token = respell(token, LONG_TARGETS)  # one key hit for another in a long word: "qdiciona"
        if token.isalpha() and len(token) >= 5 and token not in KNOWN and token not in NOT_TYPOS:
            close = difflib.get_close_matches(token, TYPO_TARGETS, n=1, cutoff=0.86)  # "tercero", "ultmo"
            token = close[0] if close else token
        out.append(token)
    return out


def _slipped(token: str) -> str | None:
    """The SLIP_TARGETS word `token` is with a swap of neighbouring letters or a doubled letter
    undone, or a payment method it is with one letter dropped ("boleo"), if any."""
    for i in range(len(token) - 1):
        swapped = token[:i] + token[i + 1] + token[i] + token[i + 2 :]
        single = token[:i] + token[i + 1 :] if token[i] == token[i + 1] else ""
        for fixed in (swapped, single):
            if fixed in SLIP_TARGETS:
                return fixed
    return next((w for w in DROP_TARGETS if len(w) == len(token) + 1 and _drops(w, token)), None)


def _drops(word: str, token: str) -> bool:
    return any(word[:i] + word[i + 1 :] == token for i in range(len(word)))
