"""The names of the `events` rows: one registry for who writes them (agent, tools, payments) and
who reads them (serve/ops/kpis.py). `tables.Event` refuses a name that is not here."""


class EventName:
    """Plain str constants (not an Enum: database drivers bind them as the text they are)."""

    # the conversion funnel (KPIs)
    CONVERSATION_STARTED = "conversation_started"
    PRODUCT_VIEWED = "product_viewed"
    CART_ADD = "cart_add"
    CHECKOUT_STARTED = "checkout_started"
    ORDER_PAID = "order_paid"
    # commerce
    CART_REMOVE = "cart_remove"
    RECOMMENDATION_SHOWN = "recommendation_shown"
    ORDER_REFUNDED = "order_refunded"
    ORDER_EXPIRED = "order_expired"  # unpaid past expires_at: canceled, stock released
    ORDER_SHIPPED = "order_shipped"  # operators (admin API)
    ORDER_DELIVERED = "order_delivered"
    ORDER_CANCELED = "order_canceled"  # an unpaid order canceled by an operator
    PAYMENT_NEEDS_REVIEW = "payment_needs_review"  # money in for an order not awaiting it (alert)
    PAYMENT_REFUNDED = "payment_refunded"  # a payment given back while the order stays as it is
    ORDER_DISPUTED = "order_disputed"  # a chargeback opened on a paid order (alert)
    PAYMENT_LINK_RESENT = "payment_link_resent"  # "manda o link de novo", "quero pagar no cartão"
    HANDOFF = "handoff"
    # operations
    INBOX_DEAD_LETTER = "inbox_dead_letter"  # a customer message given up after max attempts (an operator looks)
    # the agent's turn
    TURN_LATENCY_MS = "turn_latency_ms"
    INTENT = "intent"
    REFERENCE_RESOLVED = "reference_resolved"  # "o segundo", "esse", "2 unidades": answered from what was shown
    OBJECTION_ANSWERED = "objection_answered"  # "tá caro", "é bom?", "e o frete?" about what was shown
    INTENT_FALLBACK = "intent_fallback"
    FALLBACK_REPLY = "fallback_reply"
    LLM_ERROR = "llm_error"
    AGENT_STEPS_EXHAUSTED = "agent_steps_exhausted"
    TOOL_REFUSED = "tool_refused"
    TOOL_ARGUMENTS_UNPARSED = "tool_arguments_unparsed"
    ORDER_ID_IGNORED = "order_id_ignored"
    SEARCH_QUERY_REPLACED = "search_query_replaced"
    PRICE_UNGROUNDED = "price_ungrounded"
    PRICE_REWRITTEN = "price_rewritten"
    KNOWLEDGE_ANSWER = "knowledge_answer"  # a store question, chit-chat or media answered from configs/store.yaml
    SEARCH_ASKED = "search_asked"  # "vcs tem perfume?": searched by the server, before the classifier


EVENT_NAMES = frozenset(v for k, v in vars(EventName).items() if k.isupper())
