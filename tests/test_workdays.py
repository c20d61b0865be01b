from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from models.calendar.workdays import WorkCalendar

CAL = WorkCalendar()
days = st.dates(min_value=date(2015, 1, 1), max_value=date(2035, 12, 31))
counts = st.integers(min_value=-60, max_value=60)


def test_tet_2021_is_off():
    for day in range(10, 17):
        assert not CAL.is_working_day(date(2021, 2, day)), f"{day}/02/2021 should be a day off"
    assert CAL.is_working_day(date(2021, 2, 9))
    assert CAL.is_working_day(date(2021, 2, 17))


def test_substitute_day_for_labour_day_2021():
    assert not CAL.is_working_day(date(2021, 5, 3))


def test_ten_working_days_after_30_11_2020():
    assert CAL.add_working_days(date(2020, 11, 30), 10) == date(2020, 12, 14)


def test_five_working_days_before_31_12_2020():
    assert CAL.add_working_days(date(2020, 12, 31), -5) == date(2020, 12, 24)


def test_new_year_2021_is_off_and_overdue_counts_skip_it():
    assert not CAL.is_working_day(date(2021, 1, 1))
    assert CAL.working_days_between(date(2020, 12, 31), date(2021, 1, 5)) == 2


def test_last_working_day_of_january_2021():
    assert CAL.last_working_day_of_month(2021, 1) == date(2021, 1, 29)
    assert CAL.last_working_day_of_quarter(2021, 1) == date(2021, 3, 31)


def test_configured_days_off_and_makeup_days():
    cal = WorkCalendar(days_off=[date(2021, 1, 4)], makeup_days=[date(2021, 1, 9)])
    assert not cal.is_working_day(date(2021, 1, 4))
    assert cal.is_working_day(date(2021, 1, 9))  # a Saturday made a working day
    assert cal.next_working_day(date(2020, 12, 31)) == date(2021, 1, 5)


def test_deadline_on_a_day_off_moves_forward():
    assert CAL.roll_forward(date(2021, 2, 13)) == date(2021, 2, 17)
    assert CAL.roll_forward(date(2021, 2, 17)) == date(2021, 2, 17)


@given(days, counts)
def test_adding_then_counting_gives_back_n(start, n):
    end = CAL.add_working_days(start, n)
    if n >= 0 or CAL.is_working_day(start):
        assert CAL.working_days_between(start, end) == n


@given(days, counts.filter(lambda n: n != 0))
def test_adding_lands_on_a_working_day(start, n):
    assert CAL.is_working_day(CAL.add_working_days(start, n))


@given(days)
def test_next_working_day_is_the_first_after(day):
    nxt = CAL.next_working_day(day)
    assert nxt > day and CAL.is_working_day(nxt)
    probe = day + timedelta(days=1)
    while probe < nxt:
        assert not CAL.is_working_day(probe)
        probe += timedelta(days=1)


@given(days, days)
def test_counting_is_antisymmetric(a, b):
    assert CAL.working_days_between(a, b) == -CAL.working_days_between(b, a)


@given(days, st.integers(min_value=0, max_value=40), st.integers(min_value=0, max_value=40))
def test_adding_composes(start, m, n):
    assert CAL.add_working_days(CAL.add_working_days(start, m), n) == CAL.add_working_days(start, m + n)


@given(days)
def test_roll_forward_is_idempotent(day):
    rolled = CAL.roll_forward(day)
    assert CAL.is_working_day(rolled) and CAL.roll_forward(rolled) == rolled and rolled >= day
