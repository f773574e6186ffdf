from webhook_app.model.retry import RetryPolicy


def test_delay_follows_the_formula_at_both_ends_of_the_jitter() -> None:
    policy = RetryPolicy(base_seconds=5, factor=6, max_seconds=36000)
    assert policy.next_delay(1, jitter=lambda: 0.0) == 2.5
    assert policy.next_delay(1, jitter=lambda: 1.0) == 5.0
    assert policy.next_delay(3, jitter=lambda: 1.0) == 180.0
    assert policy.next_delay(10, jitter=lambda: 1.0) == 36000.0


def test_default_schedule_spreads_over_most_of_a_day() -> None:
    policy = RetryPolicy()
    longest = sum(policy.next_delay(n, jitter=lambda: 1.0) for n in range(1, policy.max_attempts))
    shortest = sum(policy.next_delay(n, jitter=lambda: 0.0) for n in range(1, policy.max_attempts))
    assert 10 * 3600 < shortest < longest < 24 * 3600


def test_each_delay_is_at_least_the_previous_whatever_the_jitter() -> None:
    policy = RetryPolicy(base_seconds=1, factor=2, max_seconds=1000)
    for n in range(1, 9):
        assert policy.next_delay(n + 1, jitter=lambda: 0.0) >= policy.next_delay(n, jitter=lambda: 1.0)


def test_retry_after_wins_but_is_capped() -> None:
    policy = RetryPolicy(max_seconds=60)
    assert policy.next_delay(1, retry_after=7) == 7
    assert policy.next_delay(1, retry_after=3600) == 60
    assert policy.next_delay(1, retry_after=-5) == 0


def test_gives_up_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert not policy.gives_up_after(2)
    assert policy.gives_up_after(3)
