"""Portuguese category labels and generated product names/descriptions for the Olist catalogue.

Olist ships no product names (only the *length* of the anonymised original name), so the ingest
stage writes plausible pt-BR shop names from the category and the measured attributes. Everything
is a pure function of the product id and its row: the same id always gets the same text.

A word bank per top category: nouns (with grammatical gender, so adjectives agree: "Edredom
Macio", "Colcha Macia"; a noun may carry its own specs, e.g. bed sizes only for bed linen),
specs (material, size, model), adjectives ("Macio/Macia"), variants (colours by default) and
use phrases for the description. Categories without a bank fall back to generic nouns.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass

CATEGORY_PT = {
    "cama_mesa_banho": "cama, mesa e banho",
    "esporte_lazer": "esporte e lazer",
    "moveis_decoracao": "móveis e decoração",
    "beleza_saude": "beleza e saúde",
    "utilidades_domesticas": "utilidades domésticas",
    "automotivo": "automotivo",
    "informatica_acessorios": "informática e acessórios",
    "brinquedos": "brinquedos",
    "relogios_presentes": "relógios e presentes",
    "telefonia": "telefonia",
    "bebes": "bebês",
    "perfumaria": "perfumaria",
    "papelaria": "papelaria",
    "fashion_bolsas_e_acessorios": "moda: bolsas e acessórios",
    "cool_stuff": "presentes criativos",
    "ferramentas_jardim": "ferramentas e jardim",
    "pet_shop": "pet shop",
    "eletronicos": "eletrônicos",
    "construcao_ferramentas_construcao": "construção: ferramentas de obra",
    "eletrodomesticos": "eletrodomésticos",
    "malas_acessorios": "malas e acessórios",
    "consoles_games": "consoles e games",
    "moveis_escritorio": "móveis de escritório",
    "instrumentos_musicais": "instrumentos musicais",
    "eletroportateis": "eletroportáteis",
    "casa_construcao": "casa e construção",
    "livros_interesse_geral": "livros de interesse geral",
    "fashion_calcados": "moda: calçados",
    "moveis_sala": "móveis de sala",
    "climatizacao": "climatização",
    "livros_tecnicos": "livros técnicos",
    "telefonia_fixa": "telefonia fixa",
    "casa_conforto": "casa e conforto",
    "market_place": "marketplace",
    "alimentos_bebidas": "alimentos e bebidas",
    "fashion_roupa_masculina": "moda: roupa masculina",
    "moveis_cozinha_area_de_servico_jantar_e_jardim": "móveis de cozinha, área de serviço, jantar e jardim",
    "sinalizacao_e_seguranca": "sinalização e segurança",
    "construcao_ferramentas_seguranca": "construção: segurança",
    "eletrodomesticos_2": "eletrodomésticos (outros)",
    "construcao_ferramentas_jardim": "construção: ferramentas de jardim",
    "alimentos": "alimentos",
    "bebidas": "bebidas",
    "construcao_ferramentas_iluminacao": "construção: iluminação",
    "agro_industria_e_comercio": "agro, indústria e comércio",
    "industria_comercio_e_negocios": "indústria, comércio e negócios",
    "artigos_de_natal": "artigos de Natal",
    "audio": "áudio",
    "artes": "artes",
    "fashion_underwear_e_moda_praia": "moda: íntima e praia",
    "dvds_blu_ray": "DVDs e Blu-ray",
    "moveis_quarto": "móveis de quarto",
    "construcao_ferramentas_ferramentas": "construção: ferramentas",
    "livros_importados": "livros importados",
    "portateis_casa_forno_e_cafe": "portáteis: forno e café",
    "pcs": "computadores",
    "cine_foto": "cine e foto",
    "fashion_roupa_feminina": "moda: roupa feminina",
    "musica": "música",
    "artigos_de_festas": "artigos de festa",
    "fashion_esporte": "moda esportiva",
    "artes_e_artesanato": "artes e artesanato",
    "flores": "flores",
    "fraldas_higiene": "fraldas e higiene",
    "la_cuisine": "la cuisine",
    "portateis_cozinha_e_preparadores_de_alimentos": "portáteis de cozinha e preparadores de alimentos",
    "moveis_colchao_e_estofado": "colchões e estofados",
    "tablets_impressao_imagem": "tablets, impressão e imagem",
    "fashion_roupa_infanto_juvenil": "moda infantojuvenil",
    "casa_conforto_2": "casa e conforto (outros)",
    "pc_gamer": "PC gamer",
    "seguros_e_servicos": "seguros e serviços",
    "cds_dvds_musicais": "CDs e DVDs musicais",
    "outros": "outros",
}
# Olist's translation file lacks these two (and products without a category become "outros").
CATEGORY_EN_EXTRA = {
    "pc_gamer": "pc_gamer",
    "portateis_cozinha_e_preparadores_de_alimentos": "small_appliances_kitchen_food_preparers",
    "outros": "other",
}
UNKNOWN_CATEGORY = "outros"

# Invented brand names (no real trademarks): most Olist listings carry one, and they keep two
# products of the same kind from sharing a name.
BRANDS = (
    "Aurora Casa Viva Bella Nativa Ipê Jatobá Maré Brisa Serena Vértice Trópico Lumi Pampa Cerrado "
    "Aconchego Alvorada Mandacaru Carioca Guará Araucária Jacarandá Bossa Capri Orla Estrela Ventura "
    "Itapoã Sabiá Buriti Caiçara Ybirá Tupã Anauê Paineira Acauã Ingá Juçara Piracema Canela"
).split()
COLORS = "Preto/Preta|Branco/Branca|Azul|Cinza|Vermelho/Vermelha|Verde|Rosa|Bege|Marrom|Grafite|Prata|Off-White"


@dataclass(frozen=True)
class Bank:
    nouns: str  # "Noun:g" or "Noun:g:spec1,spec2" joined by "|"; g is m or f
    specs: str  # "|"-joined, gender-neutral
    adjs: str  # "|"-joined "masc/fem" or invariable
    uses: str  # "|"-joined phrases that complete "<name>, <use>."
    variants: str = COLORS  # "" for products without colours (books, food, media)
    sized: bool = True  # size adjective from dimensions ("Compacto", "Reforçado")
    brand_prefix: str = ""  # "Editora " for books


BANKS = {
    "cama": Bank(
        "Jogo de Cama:m:Casal,Queen,King,Solteiro|Edredom:m:Casal,Queen,Solteiro|Lençol com Elástico:m:Casal,Queen,Solteiro|Toalha de Banho:f:Gigante,Felpuda,Banhão|Jogo de Toalhas:m:5 Peças,4 Peças,Banhão|Colcha:f:Casal,Queen|Travesseiro:m:Fibra Siliconada,Nasa,Plumas|Toalha de Mesa:f:Retangular 6 Lugares,Redonda,Quadrada|Cortina:f:2,00 m,2,80 m,Blackout|Manta:f:Microfibra,Soft",
        "Percal 200 Fios|Percal 300 Fios|100% Algodão|Microfibra|Algodão Egípcio|Dupla Face",
        "Macio/Macia|Liso/Lisa|Estampado/Estampada|Antialérgico/Antialérgica|Bordado/Bordada",
        "para deixar o quarto mais aconchegante|com toque macio e fácil de lavar|que não desbota nas lavagens|ideal para renovar o enxoval",
    ),
    "esporte": Bank(
        "Bola de Futebol:f:Campo,Society,Futsal|Garrafa Térmica:f:750 ml,1 Litro,500 ml|Luva de Academia:f|Kit Elásticos de Treino:m|Corda de Pular:f|Tapete de Yoga:m|Bicicleta Ergométrica:f|Halter Emborrachado:m:2 kg,5 kg,3 kg|Barraca de Camping:f:2 Pessoas,4 Pessoas|Mochila de Hidratação:f:2 Litros",
        "Profissional|Oficial|Antiderrapante|Ajustável|Dobrável|Com Alça",
        "Leve|Resistente|Reforçado/Reforçada|Ergonômico/Ergonômica",
        "para treinar em casa ou ao ar livre|que aguenta treinos intensos|prático de levar para qualquer lugar",
    ),
    "decor": Bank(
        "Quadro Decorativo:m:60x40 cm,Trio,Canvas|Vaso Decorativo:m:Cerâmica,Vidro|Espelho Redondo:m:50 cm,60 cm|Luminária de Mesa:f|Nicho Organizador:m:MDF|Prateleira Flutuante:f:60 cm,80 cm|Relógio de Parede:m:30 cm,40 cm|Almofada Decorativa:f:45x45 cm,Com Zíper|Porta-Retrato:m:10x15 cm,15x21 cm|Painel de Parede:m:3D",
        "Moderno|Escandinavo|Minimalista|Rústico|Clássico",
        "Decorativo/Decorativa|Elegante|Artesanal|Sofisticado/Sofisticada",
        "para dar personalidade à sala|que combina com qualquer ambiente|um toque de charme na decoração",
    ),
    "moveis": Bank(
        "Cadeira:f:Giratória,Estofada,Eames|Mesa de Jantar:f:4 Lugares,6 Lugares|Rack para TV:m:até 55 Polegadas,com Painel|Poltrona:f:Reclinável,Decorativa|Estante:f:5 Prateleiras|Cômoda:f:4 Gavetas,6 Gavetas|Sofá:m:2 Lugares,3 Lugares,Retrátil|Escrivaninha:f:com Gaveta|Banqueta:f:Alta,Giratória|Colchão:m:Casal,Solteiro,Queen",
        "MDF|Madeira Maciça|Pés de Madeira|Linho|Suede|Ferro",
        "Compacto/Compacta|Moderno/Moderna|Confortável|Resistente",
        "para deixar a casa mais funcional|de montagem simples|que aproveita bem o espaço",
    ),
    "beleza": Bank(
        "Shampoo:m:300 ml,1 Litro|Máscara Capilar:f:500 g,250 g|Sérum Facial:m:30 ml|Protetor Solar:m:FPS 50,FPS 30|Creme Hidratante:m:200 ml,400 g|Kit de Maquiagem:m|Escova Secadora:f:Bivolt,127 V|Chapinha:f:Bivolt|Óleo Capilar:m:60 ml|Vitamina C:f:60 Cápsulas",
        "Vegano|Sem Parabenos|Profissional|Hipoalergênico|Dermatologicamente Testado",
        "Nutritivo/Nutritiva|Suave|Revitalizante|Hidratante",
        "para uma rotina de cuidados completa|com fórmula leve que não pesa|resultado visível desde as primeiras aplicações",
        variants="Lavanda|Camomila|Argan|Coco|Karité|Aloe Vera|Rosa Mosqueta",
    ),
    "casa": Bank(
        "Jogo de Panelas:m:5 Peças,10 Peças|Panela de Pressão:f:4,5 Litros,7 Litros|Conjunto de Potes:m:10 Peças,com Tampa|Garrafa Térmica:f:1 Litro,1,8 Litro|Faqueiro:m:24 Peças,48 Peças|Escorredor de Louça:m:Inox|Tábua de Corte:f:Bambu|Jogo de Copos:m:6 Peças|Organizador de Gaveta:m|Lixeira:f:Inox 12 Litros,com Pedal",
        "Antiaderente|Inox|Vidro Temperado|Cerâmica|Livre de BPA",
        "Prático/Prática|Resistente|Durável|Multiuso",
        "que facilita o dia a dia na cozinha|fácil de limpar e guardar|que dura anos",
    ),
    "auto": Bank(
        "Capa de Banco:f:Universal,Couro Sintético|Tapete Automotivo:m:Borracha,Carpete|Suporte Veicular:m:para Celular,Magnético|Lâmpada LED:f:H4,H7|Kit Multimídia:m:2 DIN|Aspirador Automotivo:m:12 V|Câmera de Ré:f|Calibrador de Pneus:m:Digital|Palheta Limpador:f:Par|Organizador de Porta-Malas:m",
        "Universal|Bivolt|12 V|Encaixe Perfeito|Impermeável",
        "Resistente|Prático/Prática|Reforçado/Reforçada|Compacto/Compacta",
        "para deixar o carro mais seguro e organizado|de instalação rápida|que se adapta à maioria dos modelos",
    ),
    "info": Bank(
        "Mouse Sem Fio:m:1600 DPI,Recarregável|Teclado Mecânico:m:ABNT2,RGB|Headset Gamer:m:USB,P2|Webcam:f:Full HD,720p|Pen Drive:m:32 GB,64 GB,128 GB|Cabo HDMI:m:2 m,5 m|Suporte para Notebook:m:Alumínio,Ajustável|HD Externo:m:1 TB,2 TB|Hub USB:m:4 Portas,USB-C|Mousepad:m:Extra Grande,Gamer",
        "USB 3.0|Bluetooth|Plug and Play|Compatível com Windows e Mac",
        "Ergonômico/Ergonômica|Silencioso/Silenciosa|Compacto/Compacta|Rápido/Rápida",
        "para trabalhar e estudar com mais conforto|é só conectar e usar|ideal para home office",
    ),
    "brinquedos": Bank(
        "Boneca:f:Bebê,Articulada|Carrinho de Controle Remoto:m:4x4,Recarregável|Quebra-Cabeça:m:500 Peças,1000 Peças|Blocos de Montar:m:300 Peças,Educativo|Pelúcia:f:Urso,Unicórnio|Jogo de Tabuleiro:m:Família|Massinha de Modelar:f:12 Cores|Pista de Corrida:f:com Looping|Kit Médico Infantil:m|Triciclo:m:com Empurrador",
        "a partir de 3 anos|Educativo|Atóxico|Com Som e Luz",
        "Divertido/Divertida|Colorido/Colorida|Interativo/Interativa",
        "para horas de diversão|que estimula a criatividade das crianças|um presente que faz sucesso",
    ),
    "relogios": Bank(
        "Relógio Masculino:m:Aço Inox,Cronógrafo,Analógico|Relógio Feminino:m:Dourado,Rose,Analógico|Smartwatch:m:Bluetooth,à Prova d'Água|Relógio Digital:m:Esportivo|Caixa de Relógios:f:6 Nichos,10 Nichos|Kit Presente:m:Relógio e Pulseira|Pulseira:f:Aço,Couro",
        "à Prova d'Água 50 m|Pulseira de Aço|Pulseira de Couro|Vidro Mineral",
        "Elegante|Clássico/Clássica|Esportivo/Esportiva|Sofisticado/Sofisticada",
        "ótima opção de presente|com acabamento caprichado|que combina com o dia a dia e ocasiões especiais",
    ),
    "telefonia": Bank(
        "Capinha:f:Silicone,Antichoque|Película de Vidro:f:3D,Privacidade|Carregador Turbo:m:20 W,USB-C|Fone Bluetooth:m:TWS,Esportivo|Cabo USB-C:m:1 m,2 m|Power Bank:m:10.000 mAh,20.000 mAh|Suporte de Mesa:m:Articulado|Telefone Sem Fio:m:com Viva-Voz,Bina|Caixa de Som Bluetooth:f:10 W,à Prova d'Água|Smartphone:m:64 GB,128 GB",
        "Compatível com iPhone|Compatível com Samsung|Universal|Carregamento Rápido",
        "Resistente|Compacto/Compacta|Potente|Leve",
        "para o celular render mais no dia a dia|que protege sem perder o estilo|sem complicação na hora de usar",
    ),
    "bebes": Bank(
        "Carrinho de Bebê:m:com Bebê Conforto,Passeio|Cadeirinha para Auto:f:0 a 25 kg,Isofix|Kit Berço:m:10 Peças|Mamadeira:f:240 ml,Anticólica|Babá Eletrônica:f:com Câmera|Body Infantil:m:Kit 5 Peças|Banheira:f:com Suporte|Andador:m:Musical|Fralda de Pano:f:Kit 10|Mordedor:m:Silicone",
        "Livre de BPA|Antialérgico|Algodão|0 a 6 Meses|6 a 12 Meses",
        "Macio/Macia|Seguro/Segura|Delicado/Delicada|Prático/Prática",
        "para cuidar do bebê com segurança|com todo o conforto para os pequenos|que facilita a rotina dos pais",
    ),
    "perfume": Bank(
        "Perfume Feminino:m:100 ml,50 ml|Perfume Masculino:m:100 ml,50 ml|Body Splash:m:200 ml|Colônia:f:Infantil,Desodorante|Kit Perfume:m:com Loção|Desodorante:m:Roll-On|Óleo Corporal:m:Perfumado",
        "Eau de Parfum|Eau de Toilette|Floral|Amadeirado|Cítrico",
        "Marcante|Suave|Sofisticado/Sofisticada|Refrescante",
        "com fragrância que dura o dia todo|uma ótima opção de presente|para usar em qualquer ocasião",
        variants="",
    ),
    "papelaria": Bank(
        "Caderno:m:10 Matérias,Universitário|Agenda:f:2018,Permanente|Kit Canetas:m:Coloridas,Gel|Estojo:m:Escolar|Mochila Escolar:f:com Rodinhas|Planner:m:Semanal|Kit Pincéis:m:Artísticos|Tela para Pintura:f:30x40 cm|Lápis de Cor:m:24 Cores,48 Cores|Fichário:m:A4",
        "Capa Dura|A4|A5|Espiral|Reciclado",
        "Colorido/Colorida|Prático/Prática|Resistente|Criativo/Criativa",
        "para organizar os estudos e o trabalho|material de qualidade para o ano todo|para dar asas à criatividade",
    ),
    "bolsas": Bank(
        "Bolsa Feminina:f:Transversal,Tiracolo,Sacola|Mochila:f:Notebook,Casual|Carteira:f:Couro,Masculina|Mala de Viagem:f:Média,Grande,de Bordo|Óculos de Sol:m:Polarizado,UV400|Cinto:m:Couro|Necessaire:f:Viagem|Pochete:f:Esportiva|Chapéu:m:Praia,Panamá",
        "Couro Legítimo|Couro Sintético|Lona|Com Zíper|Rodinhas 360°",
        "Elegante|Espaçoso/Espaçosa|Leve|Moderno/Moderna",
        "para acompanhar o look do dia a dia|com espaço para tudo o que você precisa|acabamento caprichado e costura reforçada",
    ),
    "criativos": Bank(
        "Caneca Criativa:f:325 ml,Porcelana|Luminária Geek:f:LED|Almofada Divertida:f:Personalizada|Chaveiro:m:Metal|Miniatura Colecionável:f:Resina|Copo Térmico:m:Personalizado|Quadro Geek:m:A3|Porta-Copos:m:Kit 6",
        "Geek|Retrô|Edição Limitada|Personalizado",
        "Divertido/Divertida|Criativo/Criativa|Original",
        "um presente cheio de estilo|para quem gosta de coisas diferentes|que arranca sorrisos",
    ),
    "jardim": Bank(
        "Mangueira:f:15 m,30 m|Kit Ferramentas de Jardim:m:3 Peças,5 Peças|Vaso Autoirrigável:m:Médio,Grande|Cortador de Grama:m:Elétrico,1200 W|Regador:m:5 Litros|Pulverizador:m:Manual,2 Litros|Tesoura de Poda:f:Profissional|Terra Adubada:f:10 kg|Luva de Jardinagem:f:Par|Esguicho:m:7 Jatos",
        "Profissional|Com Cabo Emborrachado|Aço Carbono|Bivolt",
        "Resistente|Prático/Prática|Leve|Durável",
        "para cuidar do jardim sem esforço|para uso ao ar livre|que deixa as plantas sempre bonitas",
    ),
    "pet": Bank(
        "Cama para Cachorro:f:Média,Grande|Arranhador para Gato:m:com Casinha|Comedouro:m:Inox,Duplo|Coleira:f:com Guia,Peitoral|Brinquedo para Cachorro:m:Mordedor|Caixa de Transporte:f:N.º 2,N.º 3|Tapete Higiênico:m:30 Unidades|Fonte de Água:f:Elétrica|Roupinha Pet:f:Inverno|Areia Higiênica:f:4 kg",
        "Lavável|Antiderrapante|Pequeno Porte|Grande Porte",
        "Confortável|Resistente|Prático/Prática|Macio/Macia",
        "para o conforto do seu pet|que agrada até os bichinhos mais exigentes|fácil de limpar",
    ),
    "eletronicos": Bank(
        "Caixa de Som:f:Bluetooth,Portátil|Fone de Ouvido:m:Sem Fio,com Microfone|Câmera de Segurança:f:Wi-Fi,Full HD|Antena Digital:f:Interna,Externa|Controle Remoto:m:Universal|Lâmpada Inteligente:f:Wi-Fi|Soundbar:f:2.1,Bluetooth|Câmera Digital:f:16 MP|Tripé:m:1,5 m|Ring Light:m:26 cm",
        "Bluetooth 5.0|Bivolt|Wi-Fi|Recarregável|Full HD",
        "Potente|Compacto/Compacta|Moderno/Moderna|Portátil",
        "com som e imagem de qualidade|fácil de configurar|para curtir em casa ou levar junto",
    ),
    "construcao": Bank(
        "Furadeira de Impacto:f:650 W,Bivolt|Parafusadeira:f:12 V,Sem Fio|Jogo de Chaves:m:40 Peças,Combinadas|Escada:f:5 Degraus,Alumínio|Torneira:f:Gourmet,Monocomando|Chuveiro Elétrico:m:5500 W,Eletrônico|Fechadura Digital:f:Biométrica,com Senha|Nível a Laser:m:Automático|Trena:f:5 m,Laser|Kit EPI:m:Luva e Óculos",
        "Profissional|Aço Cromo-Vanádio|Bivolt|Maleta Inclusa|Inox",
        "Robusto/Robusta|Prático/Prática|Reforçado/Reforçada|Preciso/Precisa",
        "para reformas e reparos sem dor de cabeça|que encara o trabalho pesado|com ótimo acabamento",
    ),
    "iluminacao": Bank(
        "Refletor LED:m:50 W,100 W|Lâmpada LED:f:9 W,12 W|Luminária Pendente:f:Industrial,Cobre|Fita LED:f:5 m,RGB|Arandela:f:Externa,Interna|Plafon LED:m:Sobrepor,Embutir|Spot:m:Direcionável|Lustre:m:Cristal",
        "Luz Branca|Luz Quente|Bivolt|Bivolt 6500 K",
        "Econômico/Econômica|Moderno/Moderna|Elegante",
        "que ilumina bem e gasta pouco|para valorizar cada ambiente|de instalação simples",
    ),
    "eletro": Bank(
        "Liquidificador:m:1000 W,12 Velocidades|Air Fryer:f:4 Litros,5,5 Litros|Cafeteira:f:30 Xícaras,Expresso|Ventilador de Mesa:m:40 cm,30 cm|Aspirador de Pó:m:Vertical,Robô|Micro-ondas:m:20 Litros,30 Litros|Ferro de Passar:m:a Vapor|Batedeira:f:Planetária|Sanduicheira:f:Grill|Forno Elétrico:m:44 Litros,36 Litros|Climatizador:m:Portátil,3 Velocidades",
        "127 V|220 V|Bivolt|Inox|Antiaderente",
        "Potente|Silencioso/Silenciosa|Compacto/Compacta|Econômico/Econômica",
        "que agiliza o dia a dia em casa|fácil de usar e de limpar|com ótimo desempenho",
    ),
    "games": Bank(
        "Controle:m:Sem Fio,com Fio|Jogo:m:Mídia Física|Headset Gamer:m:7.1,P2|Console:m:500 GB,1 TB|Volante Gamer:m:com Pedais|Carregador de Controles:m:Duplo|Cadeira Gamer:f:Reclinável|Mouse Gamer:m:7200 DPI",
        "PS4|Xbox One|Nintendo Switch|PC|Original",
        "Ergonômico/Ergonômica|Preciso/Precisa|Confortável",
        "para partidas longas com conforto|para quem leva o jogo a sério|é só ligar e jogar",
    ),
    "musica": Bank(
        "Violão:m:Folk,Clássico,Elétrico|Guitarra:f:Stratocaster,Les Paul|Teclado Musical:m:61 Teclas|Ukulele:m:Soprano,Concert|Microfone:m:Condensador,Dinâmico|Cabo P10:m:5 m|Afinador:m:Digital|Capa para Violão:f:Acolchoada|Pedestal:m:Microfone|Cajón:m:Elétrico",
        "Tampo Maciço|com Captação|Kit Completo|Cordas de Aço|Cordas de Náilon",
        "Afinado/Afinada|Leve|Profissional",
        "para estudar e tocar com qualidade|com som encorpado|boa escolha para iniciantes e músicos experientes",
    ),
    "livros": Bank(
        "Livro:m|Box de Livros:m|Coleção:f|Livro de Receitas:m|Guia Prático:m|Manual Completo:m",
        "Edição de Bolso|Capa Dura|Edição Especial|Volume Único|Edição Revisada|Edição Ilustrada",
        "Ilustrado/Ilustrada|Atualizado/Atualizada|Completo/Completa",
        "com leitura envolvente do começo ao fim|um clássico para ter na estante|conteúdo claro e bem organizado",
        variants="",
        sized=False,
        brand_prefix="Editora ",
    ),
    "moda": Bank(
        "Camiseta:f:Algodão,Gola V,Básica|Calça Jeans:f:Skinny,Reta|Vestido:m:Midi,Longo,Curto|Blusa:f:Manga Longa,Tricô|Bermuda:f:Sarja,Moletom|Jaqueta:f:Corta-Vento,Jeans|Conjunto de Moletom:m:Infantil,Adulto|Biquíni:m:Cortininha,Hot Pant|Cueca Boxer:f:Kit 3|Legging:f:Fitness",
        "Tamanho P|Tamanho M|Tamanho G|Tamanho GG|Tamanho Único",
        "Confortável|Estiloso/Estilosa|Básico/Básica|Moderno/Moderna",
        "para montar looks do dia a dia|com tecido confortável e caimento perfeito|que vai bem em qualquer ocasião",
        sized=False,
    ),
    "calcados": Bank(
        "Tênis:m:Casual,Corrida,Esportivo|Sandália:f:Rasteira,Salto Bloco|Chinelo:m:Slide|Bota:f:Cano Curto,Coturno|Sapatilha:f:Bico Fino|Sapato Social:m:Couro|Mocassim:m:Couro",
        "Tamanho 34|Tamanho 36|Tamanho 38|Tamanho 40|Tamanho 42",
        "Confortável|Leve|Estiloso/Estilosa|Macio/Macia",
        "confortável do primeiro ao último passo|com solado antiderrapante|que combina com tudo",
        sized=False,
    ),
    "comida": Bank(
        "Café em Grãos:m:1 kg,500 g|Chá:m:Caixa 20 Saquinhos|Azeite Extra Virgem:m:500 ml|Kit Temperos:m:6 Potes|Chocolate:m:Barra 100 g|Vinho Tinto:m:750 ml|Cerveja Artesanal:f:Kit 6|Granola:f:1 kg|Mel:m:500 g|Cachaça:f:700 ml",
        "Artesanal|Orgânico|Gourmet|Sem Glúten|Importado",
        "Saboroso/Saborosa|Natural|Especial",
        "para ocasiões especiais ou para o dia a dia|com sabor marcante e ingredientes selecionados|uma ótima opção de presente",
        variants="",
        sized=False,
    ),
    "midia": Bank(
        "DVD:m|Blu-ray:m|CD:m|Box de DVDs:m:Temporada Completa|Disco de Vinil:m:LP",
        "Edição de Colecionador|Remasterizado|Original|Lacrado|Edição Especial",
        "Clássico/Clássica|Raro/Rara|Original",
        "para completar a coleção|com extras e conteúdo especial|um clássico para rever sempre",
        variants="",
        sized=False,
    ),
    "festas": Bank(
        "Kit Festa:m:Infantil,Aniversário|Árvore de Natal:f:1,5 m,1,8 m|Pisca-Pisca:m:100 LEDs,Fixo|Enfeite de Natal:m:Bolas,Guirlanda|Balões:m:50 Unidades,Metalizados|Painel de Festa:m:Tecido|Forminhas de Doce:f:100 Unidades|Toalha de Mesa Natalina:f",
        "Tema Safari|Tema Princesa|Tema Futebol|Bivolt|Reutilizável",
        "Festivo/Festiva|Colorido/Colorida|Decorativo/Decorativa",
        "para deixar a festa inesquecível|que encanta os convidados|decoração completa sem complicação",
    ),
    "flores": Bank(
        "Arranjo de Flores Artificiais:m:Orquídea,Rosas|Buquê de Rosas:m:Artificial|Vaso com Suculentas:m:Artificial|Kit Sementes:m:Horta em Casa|Orquídea:f:em Vaso",
        "Artificial|Toque Real|Pronto para Presentear",
        "Delicado/Delicada|Decorativo/Decorativa|Natural",
        "para alegrar qualquer ambiente|um presente que encanta|beleza que dura",
    ),
    "negocios": Bank(
        "Balança Digital:f:Comercial,40 kg|Seladora:f:Manual,40 cm|Etiquetadora:f:Manual|Carrinho de Carga:m:200 kg|Expositor:m:Balcão|Pulverizador Agrícola:m:20 Litros|Máquina de Cartão:f:Wi-Fi e Chip|Cofre Eletrônico:m:Digital",
        "Uso Profissional|Bivolt|Aço Inox|Alta Capacidade",
        "Robusto/Robusta|Preciso/Precisa|Prático/Prática",
        "para agilizar o trabalho no seu negócio|para uso intenso|custo-benefício para o comércio",
    ),
    "generico": Bank(
        "Kit Multiuso:m|Conjunto Organizador:m|Acessório Multiuso:m|Kit Utilitário:m|Item Decorativo:m",
        "Premium|Linha Essencial|Uso Diário|Alta Qualidade",
        "Prático/Prática|Resistente|Versátil",
        "com ótimo custo-benefício|que dura muito|para usar no dia a dia",
    ),
}
BANK_OF = {
    "cama": "cama_mesa_banho casa_conforto casa_conforto_2",
    "esporte": "esporte_lazer fashion_esporte",
    "decor": "moveis_decoracao",
    "moveis": "moveis_sala moveis_quarto moveis_escritorio moveis_cozinha_area_de_servico_jantar_e_jardim moveis_colchao_e_estofado",
    "beleza": "beleza_saude",
    "casa": "utilidades_domesticas la_cuisine",
    "auto": "automotivo",
    "info": "informatica_acessorios pcs pc_gamer tablets_impressao_imagem",
    "brinquedos": "brinquedos",
    "relogios": "relogios_presentes",
    "telefonia": "telefonia telefonia_fixa",
    "bebes": "bebes fraldas_higiene fashion_roupa_infanto_juvenil",
    "perfume": "perfumaria",
    "papelaria": "papelaria artes artes_e_artesanato",
    "bolsas": "fashion_bolsas_e_acessorios malas_acessorios",
    "criativos": "cool_stuff",
    "jardim": "ferramentas_jardim construcao_ferramentas_jardim",
    "pet": "pet_shop",
    "eletronicos": "eletronicos audio cine_foto",
    "construcao": "construcao_ferramentas_construcao casa_construcao construcao_ferramentas_ferramentas construcao_ferramentas_seguranca sinalizacao_e_seguranca",
    "iluminacao": "construcao_ferramentas_iluminacao",
    "eletro": "eletrodomesticos eletrodomesticos_2 eletroportateis portateis_casa_forno_e_cafe portateis_cozinha_e_preparadores_de_alimentos climatizacao",
    "games": "consoles_games",
    "musica": "instrumentos_musicais",
    "livros": "livros_interesse_geral livros_tecnicos livros_importados",
    "moda": "fashion_roupa_masculina fashion_roupa_feminina fashion_underwear_e_moda_praia",
    "calcados": "fashion_calcados",
    "comida": "alimentos_bebidas alimentos bebidas",
    "midia": "dvds_blu_ray musica cds_dvds_musicais",
    "festas": "artigos_de_festas artigos_de_natal",
    "flores": "flores",
    "negocios": "agro_industria_e_comercio industria_comercio_e_negocios",
}
CATEGORY_BANK = {cat: bank for bank, cats in BANK_OF.items() for cat in cats.split()}


def category_pt(slug: str) -> str:
    """'cama_mesa_banho' → 'cama, mesa e banho'; unknown slugs read as words."""
    return CATEGORY_PT.get(slug, slug.replace("_", " "))


class _Picker:
    """Deterministic choices from a product id: successive digits of a 128-bit hash."""

    def __init__(self, key: str):
        self.n = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=16).digest(), "big")

    def pick(self, options: list):
        self.n, i = divmod(self.n, len(options))
        return options[i]

    def chance(self, numerator: int, denominator: int) -> bool:
        self.n, i = divmod(self.n, denominator)
        return i < numerator


def _agree(word: str, gender: str) -> str:
    """'Macio/Macia' → 'Macia' for a feminine noun; invariable words pass through."""
    masc, _, fem = word.partition("/")
    return fem if gender == "f" and fem else masc


def _num(x) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _weight(grams: float) -> str:
    """350 → '350 g'; 1250 → '1,25 kg' (pt-BR decimal comma)."""
    if grams < 1000:
        return f"{grams:.0f} g"
    return f"{grams / 1000:.2f}".rstrip("0").rstrip(".").replace(".", ",") + " kg"


def product_text(product_id: str, category: str, attrs: dict) -> tuple[str, str]:
    """(name, description) in pt-BR for one product; attrs: weight_g, length_cm, height_cm,
    width_cm, photos_qty (NaN/None allowed)."""
    bank = BANKS[CATEGORY_BANK.get(category, "generico")]
    p = _Picker(product_id)
    noun, gender, *own = p.pick(bank.nouns.split("|")).split(":")
    # own specs are comma-separated; a comma between two digits is a decimal comma ("4,5 Litros")
    spec = p.pick(re.split(r"(?<!\d),|,(?!\d)", own[0]) if own else bank.specs.split("|"))
    adj = _agree(p.pick(bank.adjs.split("|")), gender) if p.chance(1, 2) else ""
    w, dims = _num(attrs.get("weight_g")), [_num(attrs.get(k)) for k in ("length_cm", "height_cm", "width_cm")]
    if bank.sized and w is not None and w >= 10_000:
        adj = _agree("Reforçado/Reforçada", gender)  # heavy (>= 10 kg): say so, it is a selling point
    elif bank.sized and None not in dims and math.prod(dims) < 1_000:
        adj = _agree("Compacto/Compacta", gender)  # package under 1 litre
    variant = _agree(p.pick(bank.variants.split("|")), gender) if bank.variants and p.chance(2, 3) else ""
    # no word twice ("Relógio Digital Esportivo Esportivo"): an adjective/variant already said is dropped
    said = f"{noun} {spec}".lower().split()
    adj = "" if adj.lower() in said else adj
    variant = "" if variant.lower() in said + [adj.lower()] else variant
    brand = bank.brand_prefix + p.pick(BRANDS)
    name = " ".join(x for x in (noun, spec, adj, variant, brand) if x)

    use = p.pick(bank.uses.split("|"))
    first = p.pick([f"{name}, {use}.", f"{use[0].upper()}{use[1:]}: {name}.", f"{noun} {spec}, {use}."])
    facts = []
    if None not in dims:
        length, height, width = (f"{d:.0f}" for d in dims)
        facts.append(f"embalagem de {length} × {width} × {height} cm")
    if w is not None:
        facts.append(f"peso aproximado de {_weight(w)}")
    facts_text = "; ".join(facts)
    text = first + (f" {facts_text[:1].upper()}{facts_text[1:]}." if facts else "")
    photos = _num(attrs.get("photos_qty"))
    if photos is not None and photos >= 3:
        text += f" Veja as {photos:.0f} fotos do anúncio para conferir os detalhes."
    return name, text
