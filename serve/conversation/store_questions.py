"""Which store question, chit-chat or off-topic remark a customer's message is, if it is only that.

    asked("vcs aceitam pix?")              # ["payment"]
    asked("demora quanto pra chegar?")     # ["delivery"]
    asked("aceita pix? quero um relogio")  # []: "quero relogio" is a shopping request: the normal flow

Patterns are written from the language (pt-BR first, English second), on a canonical form of the
text: accents and punctuation off (serve/core/catalog.py `normalize`), letters typed three times or
more kept once ("oiii"), chat abbreviations spelled out ("vcs", "qnto", "pfv"), and a misspelt word
of five letters or more replaced by the closest word of the vocabulary below ("devolvr", "pagamnto").

A topic is asked when its cue matches and EVERY word of the message is a word of the asked topics or
a filler (articles, question words, greetings, politeness). Any other word ("relogio", "quero",
"carrinho", "defeito") means the message asks for something else too, and it is left whole to the
normal flow: a customer who wants a product gets the search, and a complaint ("veio com defeito,
posso trocar?") reaches a person through the intent router, not a policy text. Off-topic subjects
are the exception: any words may come with them, unless a shopping word is among them. Laughter
("kkkk", "hahaha", "rsrs") and a preface ("oi, uma dúvida:") count as fillers; an acknowledgement
("ok", "blz", "tá bom, fico no aguardo") is small talk, answered only when nothing else is asked.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache

from serve.core.catalog import normalize

SLANG = {
    "vc": "voce", "vcs": "voces", "ce": "voce", "oce": "voce", "tu": "voce", "q": "que", "oq": "o que",
    "pq": "porque", "qto": "quanto", "qnto": "quanto", "qt": "quanto", "qnts": "quantos", "qts": "quantos",
    "tb": "tambem", "tbm": "tambem", "td": "tudo", "blz": "beleza", "pfv": "por favor", "pf": "por favor",
    "pra": "para", "pro": "para o", "p": "para", "n": "nao", "naum": "nao", "hj": "hoje", "msm": "mesmo",
    "eh": "e", "ta": "esta", "tah": "esta", "kd": "cade", "mt": "muito", "mto": "muito", "vlw": "valeu", "obg": "obrigado",
    "okk": "ok", "oki": "ok", "okey": "ok", "u": "you", "ur": "your", "pls": "please", "plz": "please", "whats": "what is", "wat": "what",
}  # fmt: skip
FILLER = frozenset(
    "o a os as um uma uns umas de da do das dos e ou que qual quais quanto quantos quanta quantas como onde "
    "quando se no na nos nas em com sem por para pelo pela ate ai aqui la me te eu voce voces seu sua seus suas "
    "esse essa isso este esta isto gente loja senhor senhora moca moco amigo amiga oi ola oie opa ei bom boa dia "
    "tarde noite tudo bem beleza obrigado obrigada valeu favor entao so sim nao ne hein mesmo tambem algum "
    "alguma tem ter posso pode podem poderia consigo da dar faz fazer faco funciona queria gostaria saber muito "
    "sabe r rs reais real ok estou duvida duvidinha pergunta perguntinha rapidinho rapida rapido "
    "the a an is are am do does did you your i my me we our us can could would will what which how when where "
    "of for to in on at with from by it its this that there any some about please hi hello hey thanks thank "
    "okay so just also and or if guys store shop have has get got s t m re ll d ve question quick".split()
)
SHOPPING = re.compile(
    r"\b(quero|queria|comprar|compro|procuro|procurando|preciso|vende|vendem|tem|levar|carrinho|preco|custa|"
    r"presente|disponive\w*|existe|existem|teria|teriam|estoque|trabalh\w* com|buy|want|looking|need|sell|price|"
    r"cart|gift|in stock|available)\b"
)


@dataclass(frozen=True)
class Topic:
    name: str
    cue: re.Pattern  # the topic is asked about
    words: frozenset[str]  # the other words a message about it may hold
    block: re.Pattern | None = None  # ...unless this matches: another answer fits better
    open: bool = False  # any words may come with it (off-topic subjects), but no SHOPPING word


def _topic(name: str, cue: str, words: str, block: str | None = None, open: bool = False) -> Topic:
    return Topic(name, re.compile(cue), frozenset(words.split()), re.compile(block) if block else None, open)


MY_ORDER = r"\b(meu|minha|meus|minhas|my) (pedido|pedidos|compra|compras|encomenda|pacote|order|package|purchase)\b"
# "desisti"/"desisto" alone gives up on shopping: not a question about the right of withdrawal
RETURN_WORDS = r"\b(devol\w*|trocar|troca|reembols\w*|desistencia|arrepend\w*|return\w*|refund\w*|exchang\w*)\b"
DELETE = r"\b(apag\w*|exclu\w*|delet\w*|remov\w*|esquec\w*|erase|forget)\b"
# Order matters: answers are given in this order, and the first topic picks the buttons.
TOPICS = (
    _topic(
        "privacy_delete",
        DELETE + r".*\b(dados|cadastro|numero|informacoes|data|account|conta)\b",
        "apagar apaguem apague apaga exclui excluir exclua excluam exclusao deletar deleta delete remover removam "
        "esquecer erase remove forget quero solicito peco pedir dados meu minha meus minhas pessoais cadastro numero telefone "
        "informacoes conta data account personal want like request all",
    ),
    _topic(
        "privacy",
        r"\b(dados|lgpd|privacidade|informacoes pessoais|privacy|gdpr|personal (data|information))\b"
        r"|\b(my|your|customer) data\b|\bdata (do|does) you\b",
        "dados dado meus minhas pessoais pessoal informacoes informacao guardam guarda guardar armazenam armazena "
        "salvam salva sabem coletam coleta usam usa fazem vendem compartilham seguros segura seguro seguranca lgpd "
        "privacidade cadastro numero telefone nome ver acessar copia meu minha mim sobre tem "
        "data store keep have collect use sell share safe secure personal information privacy gdpr phone number "
        "name policy",
    ),
    _topic(
        "returns",
        RETURN_WORDS,
        "devolver devolucao devolucoes devolvo devolve trocar troca trocas troco reembolso estorno desistir "
        "desistencia arrependimento arrependi direito politica prazo dias gostar gostei servir serviu caso produto "
        "compra item dinheiro volta comprar comprei compro comprado comprada receber recebi recebo recebido chegar "
        "ficar ficou fique pequeno pequena grande apertado apertada largo larga tamanho numero agradar agradou "
        "return returns refund refunds exchange exchanges policy don t doesn fit like back money days product item "
        "buy bought purchase receive received small big size doesn didn isn",
        block=DELETE,
    ),
    _topic(
        "payment",
        r"\b(aceita|aceitam|aceitar|aceito|recebe|recebem)\b.*\b(pix|boleto|cartao|cartoes|credito|debito|dinheiro|"
        r"pagamento|transferencia)\b|\b(formas?|meios?|opc\w+|metodos?|tipos?|como funciona o) (de )?pagamentos?\b"
        r"|\b(posso|para|consigo|como|tem como) (eu )?(pagar|pago|parcelar)\b|\bparcel\w*\b.*\?|\bquantas vezes\b"
        r"|\btem (pix|boleto)\b|\b(pix|boleto|cartao|credito|debito)\b.*\b(pode|aceita|aceitam|serve|vale|rola)\b \?"
        r"|\b(tem como|da pra|da para|posso|consigo) (tirar|gerar|emitir|pagar com|pagar no|pagar por) (um |o )?(boleto|pix)\b"
        r"|\b(payment|pay) (methods?|options?)\b|\b(accept|take)s? (pix|cards?|credit|debit|boleto|payments?|cash)\b"
        r"|\b(can|how do|how can) i pay\b|\binstallments?\b.*\?"
        r"|\b(como )?(eu )?(faco|faz|fazer) (o |para |pra )?(pagamento|pagar)\b",
        "faco faz fazer "
        "pagar pago paga pagamento pagamentos pix boleto cartao cartoes credito debito parcela parcelas parcelado "
        "parcelada parcelar parcelamento vezes juros forma formas meio meios metodo metodos opcoes opcao aceita "
        "aceitam aceitar aceito recebe recebem dinheiro transferencia usar tipo tipos serve vale rola tirar gerar "
        "emitir "
        "pay payment payments method methods option options accept accepted take cards card credit debit boleto "
        "pix installments installment cash transfer",
    ),
    _topic(
        "delivery",
        r"\bprazos?\b|\bdemora\w*\b|\bquanto tempo\b|\bquantos dias\b|\b(chega|chegar|chegam|chegaria)\b"
        r"|\bdata d[ea] entrega\b|\bhow long\b|\bdelivery time\b|\barrive\b|\bwhen will\b",
        "prazo prazos entrega entregas entregar entregue demora demoram demorar demorado tempo dias dia uteis util "
        "chega chegar chegam chegaria leva levam levar normalmente geralmente media previsao rapido rapida semana "
        "semanas produto produtos data "
        "long take takes delivery deliver time days day arrive arrives get shipping usually business week weeks",
        block=RETURN_WORDS + "|" + MY_ORDER + r"|\bzv\d{4,}\b",
    ),
    _topic(
        "shipping",
        r"\bfretes?\b|\b(envio|envios|enviam|entregam)\b|\bshipping\b|\bfree delivery\b|\b(deliver|ship)s? to\b"
        r"|\bcorreios\b|\btransportadora\b",
        "frete fretes gratis gratuito gratuita free valor custo custa preco minimo minima partir acima compras "
        "compra pedido pedidos envio envios enviam entregam entrega entregar todo toda brasil cidade estado regiao "
        "cep correios transportadora sai fica "
        "shipping ship ships cost costs much minimum above over orders order deliver delivery country brazil "
        "whole anywhere charge fee",
    ),
    _topic(
        "hours",
        r"\bhorarios?\b|\b(que|qual) horas? (voces |a loja )?(abre|abrem|fecha|fecham|atende|atendem|funciona\w*)\b"
        r"|\bate que horas\b|\b(abre|abrem|atende|atendem|funciona|funcionam|aberto|aberta|abertos) "
        r"(no|na|aos|de|hoje|amanha|domingo|sabado|feriado|fim)\b|\b(opening|business|office) hours\b"
        r"|\bwhat time do you (open|close)\b|\bare you open\b|\bopen (on|today|tomorrow|sunday|saturday)\b",
        "horario horarios atendimento atende atendem funcionamento funcionam abre abrem fecha fecham aberto aberta "
        "abertos hoje amanha domingo domingos sabado sabados feriado feriados fim semana horas hora segunda sexta "
        "hours open opening close closing business office time today tomorrow weekend sunday saturday holiday "
        "holidays",
    ),
    _topic(
        "contact",
        r"\b(contato|e mail|email|sac|loja fisica|endereco da loja|telefone (da loja|de voces|para contato)"
        r"|numero (da loja|de voces|para contato)|contact|phone number|physical store|store address)\b",
        "contato contatos email mail telefone numero endereco fisica fisico sac canal canais outro outra jeito "
        "falar entrar atendimento whatsapp "
        "contact email mail phone number address physical reach channel other way talk get touch",
    ),
    _topic(
        "categories",
        r"\b(vende|vendem|vendendo|catalogo|categorias?|departamentos?)\b"
        r"|\bque (tipos? de )?(produtos?|coisas?) (voces |a loja )?(tem|vende|vendem|oferece\w*|trabalh\w+)\b"
        r"|\bo que (voces |a loja |voce )?(tem|oferece|oferecem|trabalha\w*)\b"
        r"|\bwhat (do|does) (you|the store) (sell|have|offer)\b|\bwhat (kinds?|types?) of (products|things|stuff)\b"
        r"|\b(products|categories) (do )?you (sell|have|offer)\b",
        "vende vendem vendendo venda vendas vendo trabalha trabalham produtos produto categorias categoria "
        "departamentos departamento tipos tipo coisas coisa catalogo disponivel disponiveis oferecem oferece "
        "sell sells selling products product categories category kind kinds type types stuff things catalog "
        "catalogue offer have has",
    ),
    _topic(  # a request for a person of the team, and nothing else: the handoff (knowledge.py)
        "person",
        r"\b(falar|fala|conversar|chama|chamar|chame|chamem|quero|queria|prefiro|preciso|passa|transfere|transferir|cade)\b"
        r".*\b(atendente|vendedor|vendedora|responsavel|gerente|humano|humana|pessoa|alguem|supervisor|dono|dona|"
        r"funcionario|funcionaria)\b|^(um |uma |o |a )?(atendente|humano|vendedor|gerente|responsavel)\b"
        r"|\b(talk|speak|chat|transfer|connect|get|want|need|put)\b.*\b(human|person|agent|representative|someone|"
        r"somebody|manager|staff)\b|\breal (human|person)\b|^(a )?(human|agent|person)\b"
        r"|\b(quero|queria|preciso|falar com|fala com) (uma |um )?(gente|ser humano)\b|\bcansei (do|de|desse|dessa) (robo|bot)",
        "falar fala conversar chama chamar chame chamem quero queria prefiro preciso passa passar transfere transferir "
        "cade atendimento "
        "posso pode poderia alguem verdade loja atendente vendedor vendedora responsavel gerente humano humana pessoa "
        "supervisor dono dona funcionario funcionaria real agora gente ser cansei cansado robo bot maquina do desse "
        "talk speak chat transfer connect get want need put human person agent representative someone somebody "
        "manager staff real now can could i you me to with",
        r"\b(am i (talking|chatting)|are you|is this|falando com|(voce|vc|isso) (e|eh|esta))\b",  # asks "bot?"
    ),
    _topic(
        "bot",
        r"\b(voce|isso|aqui) (e|esta|sera) (um |uma )?(robo\w*|bot|chatbot|maquina|ia|inteligencia artificial|"
        r"humano|humana|pessoa|gente|atendente)\b|\b(e|sou|estou|to) falando com (um |uma )?(robo|bot|humano|pessoa|"
        r"maquina|atendente|ia)\b|^(e )?(um |uma )?(robo|bot|chatbot|maquina|ia)( \?)?$|\be (um |uma )?(robo|bot|chatbot)\b"
        r"|\bare you (a |an )?(bot|robot|human|real|person|ai|machine)\b"
        r"|\b(is this|am i talking to|am i chatting with) (a |an )?(bot|robot|human|real person|person|ai|machine)\b",
        "robo robozinho bot chatbot maquina ia inteligencia artificial humano humana pessoa real verdade atendente "
        "falando sou sera virtual "
        "bot robot human real person ai machine talking chatting",
    ),
    _topic(
        "joke",
        r"\b(piadas?|charadas?|anedota|me (faz|faca) rir|jokes?|make me laugh|something funny)\b",
        "conta conte contar fala fale manda mande sabia piada piadas charada charadas anedota rir faca engracada "
        "engracado tell joke jokes know funny make laugh something",
    ),
    _topic(
        "off_topic",
        r"\bcapital d\w*\b|\bpresidente\b|\bgoverno\b|\bpolitic\w*\b|\beleic\w*\b|\bprevisao do tempo\b|\bvai chover\b"
        r"|\bquem ganhou\b|\bplacar\b|\bfutebol\b|\bque horas sao\b|\bque dia e hoje\b|\bsentido da vida\b"
        r"|\breceita de\b|\b(licao|dever) de casa\b|\bmatematica\b|\bquanto e \d+ ?(mais|menos|vezes|x) ?\d+\b"
        r"|\bweather\b|\bpresident\b|\bcapital of\b|\bwho won\b|\bwhat time is it\b|\bmeaning of life\b"
        r"|\bhomework\b|\brecipe\b|\bpolitics\b",
        "",
        open=True,
    ),
    _topic(
        "how_are_you",
        r"\bcomo (vai|voce esta|esta voce|voce vai|estao|anda|andam|voce anda)\b|\btudo (bem|bom|joia|certo|"
        r"tranquilo|ok)\b.*\?|\bhow are (you|things)\b|\bhow is it going\b|\bhow you doing\b",
        "vai esta estao anda andam indo bom joia certo tranquilo contigo e com "
        "how doing going things everything good fine",
    ),
    # An acknowledgement answers nothing and asks nothing ("ok, entendi", "tá bom, fico no aguardo"):
    # a short note back. A thank-you or goodbye alone is the classifier's (navigation "thanks"), and a
    # yes-word under an offer ("sim", "pode ser") is a reference (references.py runs first).
    _topic(
        "ack",
        r"\b(ok|okay|okey|certo|certinho|entendi|entendido|combinado|beleza|belezinha|fechado|perfeito|show|joia"
        r"|tranquilo|aguardo|aguardando|aguardar|esperando|espero|esperar|pode deixar|(ah|ahh|hum|hmm) esta"
        r"|esta (bom|certo|otimo|bem|joia|combinado)|got it|understood|alright|all right|sounds good|noted|i see"
        r"|fine|cool|no problem|will wait|i ll wait)\b",
        "ok okay okey certo certinho entendi entendido entendo combinado beleza belezinha fechado perfeito show "
        "joia tranquilo aguardo aguardando aguardar esperando espero esperar esperarei fico ficarei ficamos vou "
        "deixa deixar pode ah ahh hum hmm esta bom boa otimo otima legal massa top bem retorno resposta vcs "
        "got it understood alright all right sounds good noted see fine cool great perfect no problem will wait "
        "waiting then thanks thank thx",
    ),
)
KNOWN = FILLER.union(*(t.words for t in TOPICS))
# Misspellings are corrected towards these cue words only (a word of the catalogue such as "quadro"
# or "verde" must never become "quando" or "verdade"): checked on the real catalogue's words.
TYPO_TARGETS = sorted(
    w
    for w in (
        "devolver devolucao trocar reembolso arrependimento desistir pagamento pagamentos parcelar parcelado "
        "parcelamento cartao credito debito boleto aceitam aceita entrega entregar demora demorar chegar prazo "
        "frete gratis gratuito transportadora correios horario horarios atendimento funcionamento privacidade "
        "dados pessoais informacoes cadastro apagar excluir categorias departamentos catalogo vendem produtos "
        "piada charada humano inteligencia artificial contato endereco entendi entendido aguardo chamar "
        "responsavel atendente gerente supervisor "
        "aguardando esperando beleza perfeito "
        "payment payments methods installments delivery shipping return refund exchange privacy personal "
        "information categories products contact address hours opening robot human joke"
    ).split()
    if len(w) >= 5
)
TYPO_CUTOFF = 0.82  # "devolvr"→"devolver", "boletu"→"boleto", "shiping"→"shipping"; not "dando"→"dados"


def canonical(text: str) -> str:
    """The text as the patterns read it ("Vcs aceitam Píx??" → "voces aceitam pix ?"); "?" is kept."""
    out = []
    for w in normalize(re.sub(r"(\w)\1{2,}", r"\1", text)).split():
        out += [_spelled(part) for part in SLANG.get(w, w).split()]
    return " ".join(out) + (" ?" if "?" in text else "")


@lru_cache(maxsize=8192)
def _spelled(word: str) -> str:
    """A misspelt vocabulary word corrected; any other word as it is."""
    if word in KNOWN or len(word) < 5 or word.isdigit():
        return word
    close = difflib.get_close_matches(word, TYPO_TARGETS, n=1, cutoff=TYPO_CUTOFF)
    return close[0] if close else word


SMALL_TALK = frozenset({"ack", "how_are_you"})  # answered only when nothing else is asked
# Laughter ("kkkkk", "hahaha", "rsrs", "hehe"): it carries no request, like a filler word.
LAUGHTER = re.compile(r"k+|(?:ha|ah|he|eh|hi|hu|ks|rs|ja)+h?|hue(?:hue)*|lol|lmao|rofl|haha\w*")


def asked(text: str) -> list[str]:
    """The topics `text` asks about, in TOPICS order, when it asks about nothing else; else []."""
    line = canonical(text)
    words = [w for w in line.replace("?", " ").split() if not LAUGHTER.fullmatch(w)]
    hits = [t for t in TOPICS if t.cue.search(line) and not (t.block and t.block.search(line))]
    closed = [t for t in hits if not t.open]
    allowed = FILLER.union(*(t.words for t in closed))
    if closed and all(w in allowed or w.isdigit() for w in words):
        names = [t.name for t in closed]
        if "privacy_delete" in names:  # a request, not a question: a person handles it
            return ["privacy_delete"]
        # "oi, tudo bem? aceitam pix?", "ok, e o frete?": the question
        return [n for n in names if n not in SMALL_TALK] or names[:1]
    if any(t.open for t in hits) and not SHOPPING.search(line):
        return [t.name for t in hits if t.open]
    return []


__all__ = ["TOPICS", "asked", "canonical"]
