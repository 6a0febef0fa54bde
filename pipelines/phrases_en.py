"""Phrase banks (English) for the synthesize stage: data only, no logic. Same keys as phrases_pt."""

from pipelines.phrases_pt import NAMES  # noqa: F401  (customers keep Brazilian names)

ORDINALS = ["first", "second", "third"]
PAY_WORDS = {"pix": ["pix", "via pix"], "card": ["card", "credit card", "my card"], "boleto": ["boleto", "bank slip"]}
SLANG = [("you", "u"), ("please", "pls"), ("thanks", "thx"), ("are", "r"), ("want to", "wanna"), ("going to", "gonna")]
EMOJI = ["😊", "🙏", "👍", "😅", "🤔", "lol"]
# English words for category slugs (search indexes category_en, so these find the category's products)
CATEGORY_WORDS = {
    "cama_mesa_banho": "bed bath",
    "beleza_saude": "beauty",
    "esporte_lazer": "sports",
    "moveis_decoracao": "decor",
    "informatica_acessorios": "computer accessories",
    "utilidades_domesticas": "housewares",
    "relogios_presentes": "watches",
    "telefonia": "telephony",
    "brinquedos": "toys",
    "automotivo": "auto parts",
    "ferramentas_jardim": "garden tools",
    "perfumaria": "perfume",
    "bebes": "baby",
    "cool_stuff": "cool stuff",
    "pet_shop": "pet shop",
    "eletronicos": "electronics",
    "papelaria": "stationery",
    "fashion_bolsas_e_acessorios": "bags",
    "moveis_escritorio": "office furniture",
}

USER = {
    "greeting": ["hi", "hello!", "hey there", "good morning", "hi, anyone there?"],
    "browse": [
        "what do you sell?",
        "what categories do you have?",
        "hi, just browsing",
        "what are your best sellers?",
        "show me what you've got",
    ],
    "pick_category": ["show me {cat}", "{cat}", "i'd like to see {cat}", "what do you have in {cat}?"],
    "search": [
        "do you have {q}?",
        "i'm looking for {q}",
        "hi, i want to buy {q}",
        "any {q}?",
        "i need {q}",
        "do you sell {q}?",
    ],
    "search_budget": [
        "any {q} under {budget} reais?",
        "looking for {q}, max R$ {budget}",
        "{q} for up to {budget} reais?",
    ],
    "details": [
        "tell me more about the {ord} one",
        "what's the {ord} like?",
        "more info on the {ord} pls",
        "is the {ord} one good?",
    ],
    "add": ["i'll take the {ord} one", "the {ord} one please", "add the {ord}", "ok, the {ord} one"],
    "add_qty": ["{qty} of the {ord} one", "add {qty} of the {ord}", "i want {qty} of the {ord} one"],
    "add_this": ["yes please", "add it", "i'll take it", "sure, add it", "ok let's do it"],
    "add_fix_qty": ["ok, {qty} then", "make it {qty}", "fine, {qty}"],
    "pay": ["{pay}", "i'll pay by {pay}", "{pay} please", "{pay} is fine"],
    "payment_q": ["do you take pix?", "what payment methods do you accept?", "can i pay by boleto?"],
    "checkout_start": ["i want to check out", "how do i pay?", "let's finish the order", "checkout please"],
    "objection_price": ["too expensive", "anything cheaper?", "hmm that's pricey", "a bit much for me"],
    "objection_quality": ["is it any good?", "any reviews?", "has anyone bought it?", "is the quality ok?"],
    "objection_shipping": ["what about shipping?", "how much is shipping?", "is delivery expensive?"],
    "decline": ["i'll think about it", "no thanks", "not now", "maybe later", "nah, i'm good"],
    "complement": ["what goes well with it?", "anything else you'd suggest?", "what else do people buy with it?"],
    "remove": ["remove the {name}", "take out the {name}", "i don't want the {name} anymore"],
    "remove_qty": ["remove {qty} of the {name}", "take {qty} {name} out"],
    "view_cart": ["what's in my cart?", "what's the total?", "show me my cart", "how much is it all?"],
    "order_status": ["where is my order?", "has my order shipped?", "when will my order arrive?", "track my order pls"],
    "order_status_code": ["status of order {code}?", "where is order {code}?", "track order {code}"],
    "complaint_delivery": ["my order hasn't arrived yet", "the delivery is late", "an item is missing from my order"],
    "complaint_quality": [
        "the product arrived broken",
        "it's different from the ad",
        "it doesn't work",
        "i want to return it",
    ],
    "human": ["i want to talk to a human", "can i speak to an agent?", "get me a real person please", "agent please"],
    "off_topic": [
        "who won the game yesterday?",
        "will it rain tomorrow?",
        "tell me a joke",
        "what's the capital of australia?",
        "are you a robot?",
        "recommend me a movie",
    ],
    "lgpd_info": ["do you store my data?", "why do you need my address?", "is my data safe?", "do you sell my data?"],
    "lgpd_delete": ["please delete my data", "delete my account", "i want my personal data erased"],
    "thanks": ["thanks!", "thank you", "thx, bye", "great, thanks"],
    "reorder": ["i want to repeat my last order", "same as last time please", "i'd like to buy it again"],
    "recurring_hi": ["hi, it's me again", "hello again!", "hi there"],
}

HANDOFF_TOPICS = [
    ("i need an invoice for my company", "company invoice request"),
    ("i want to buy 200 units for my store, any discount?", "wholesale purchase"),
    ("i want to exchange a product", "product exchange"),
    ("i was charged twice on my card", "duplicate charge"),
    ("i need to change the delivery address", "delivery address change"),
    ("i want to cancel my purchase", "order cancellation"),
]
COMPLAINT_REASONS = {"delivery": "delivery problem", "quality": "defective or not as described"}
HUMAN_REASON = "customer asked for a human agent"
LGPD_REASON = "personal data deletion request (LGPD)"

BOT = {
    "greet": ["Hi! 😊 How can I help you today?", "Hello! Looking for something special?"],
    "cats": ["We have {cats} and more! Best sellers right now:", "We sell {cats}, among others. Top picks:"],
    "list": ["Here are some options:", "Yes! Take a look:", "I found these:"],
    "list_cat": ["Best sellers in {cat}:", "Popular in {cat}:"],
    "cheaper": ["Sure! Here are cheaper options:", "No problem, these cost less:"],
    "ask_pick": ["Want details on any of them?", "Which one caught your eye?", "Does any of these work for you?"],
    "none": ["I couldn't find that right now 😕 Want to search for something else?"],
    "detail": ["{name} costs {price}. {desc}", "The {name} is {price}. {desc}"],
    "social": ["It's rated {score} from {reviews} reviews.", "Customers rate it {score} ({reviews} reviews)."],
    "comment": ['A customer wrote: "{comment}"', 'From a real review: "{comment}"'],
    "no_reviews": ["It has no reviews yet.", "No reviews yet for this one."],
    "scarcity": ["Only {stock} left in stock.", "Low stock: {stock} units left."],
    "ask_add": ["Shall I add it to your cart?", "Want me to add it?", "Would you like it?"],
    "added": [
        "Done! Added {qty}x {name}. Total {total}, shipping {freight}.",
        "Added {qty}x {name} ✅ Subtotal {subtotal} + shipping {freight} = {total}.",
    ],
    "added_free": ["Done! {qty}x {name} in your cart. Total {total} with free shipping 🎉"],
    "ask_pay": ["How would you like to pay: Pix, card or boleto?", "Pix, card or boleto?"],
    "complement": [
        "It goes well with {cname} ({cprice}). Want to see it?",
        "To go with it, there's {cname} for {cprice}. Interested?",
    ],
    "checkout": [
        "Order {order} created! Total {total}. Pay here: {link}",
        "Done! Order {order}, total {total}. Payment link: {link}",
    ],
    "stock_error": ["Oops, {error}. Want to change the quantity?"],
    "shipping": ["Shipping for the {name} is {freight}.", "Shipping for this one is {freight}."],
    "shipping_free": ["Shipping for the {name} is free 🎉", "This one ships for free!"],
    "stock_tag": [" (only {stock} left)", " · {stock} in stock"],
    "freight_tip": ["Tip: items added to the same order pay only a fraction of their shipping."],
    "decline_ok": [
        "No problem! Just message me if you change your mind 😊",
        "Sure, no rush! I'm here if you need anything.",
    ],
    "removed": ["Removed {qty}x {name}. New total: {total}.", "Done, {qty}x {name} removed. Total is now {total}."],
    "cart": [
        "Your cart: {lines}. Total {total} (shipping {freight}).",
        "In your cart: {lines}. Total: {total}, shipping {freight}.",
    ],
    "cart_empty": ["Your cart is empty. Want to look for something?"],
    "status": {
        "delivered": ["Your order {order} was delivered on {delivered} ✅"],
        "shipped": [
            "Your order {order} has shipped! Estimated delivery: {eta}.",
            "Order {order} is on its way, arriving by {eta} 🚚",
        ],
        "canceled": ["Order {order} was canceled."],
        "other": ["Your order {order} is being prepared. Estimated delivery: {eta}."],
    },
    "order_unknown": ["I couldn't find that order 🤔 Could you check the number?"],
    "cheapest": ["That's already the cheapest option I found 😕"],
    "payment_info": ["We accept Pix, card and boleto 😊", "You can pay with Pix, card or boleto."],
    "status_plain": ["The status of order {order} is: {status}."],
    "sorry": ["I'm so sorry about that 😔", "Sorry for the trouble."],
    "will_handoff": ["I'll get a team member to sort this out with you.", "Let me pass you to our team to fix this."],
    "handoff_done": ["Done, an agent will message you here shortly.", "A human agent will reply to you here soon."],
    "off_topic": [
        "Ha, I can't help with that 😅 But I can help you find a product! What are you looking for?",
        "That's outside what I know, but shopping I can do! Looking for anything today?",
    ],
    "lgpd_info": [
        "We only use the data needed to deliver your order, and you can ask us to delete it at any time.",
        "Your data is only used to deliver your order and never sold. You can request deletion whenever you want.",
    ],
    "lgpd_delete": ["Of course! I'll forward your data deletion request to the responsible team."],
    "bye": ["Thank you! Message me anytime 😊", "You're welcome! Happy shopping 🛍️"],
    "hi_name": ["Hi {name}! Great to see you again 😊", "Hello {name}, welcome back!"],
    "reorder": [
        "Want to repeat the {name} ({price})?",
        "Last time you got {name}, it's {price} today. Shall I add it again?",
    ],
    "novelty": [
        "There's also {name} for {price}, which matches your purchases.",
        "I also picked {name} ({price}) for you.",
    ],
}
