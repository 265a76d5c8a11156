from precache.logs import mask_url


def test_mask_url_hides_password_only() -> None:
    assert mask_url("amqp://nova:hunter2@rabbit.example:5672/nova") == (
        "amqp://nova:***@rabbit.example:5672/nova"
    )


def test_mask_url_leaves_passwordless_url() -> None:
    assert mask_url("amqp://rabbit.example//") == "amqp://rabbit.example//"
