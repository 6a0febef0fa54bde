"""serve/conversation/model_text.py: checks on the model's text and the customer's language."""

from serve.conversation.model_text import customer_language


def test_button_titles_and_ids_do_not_decide_the_language():
    assert customer_language(["quero um lençol", "View cart", "add_to_cart:6c960ba6", "checkout"]) == "pt"
    assert customer_language(["do you have sheets?", "Ver carrinho"]) == "en"
    assert customer_language(["👍"], default="en") == "en"
