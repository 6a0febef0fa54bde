"""The root of every refusal the server words for the customer.

A `Refusal` is an operation the rules forbid (no stock, empty cart, unknown coupon, a gateway that
cannot take the payment now), not a fault: its message is pt-BR text that reaches the model as the
tool's `error` and the customer as a reply. Faults (database, network) are other exceptions.
"""


class Refusal(ValueError):
    """An operation the server refuses; str(exc) is the pt-BR text shown for it."""
