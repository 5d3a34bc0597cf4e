import pytest
from profit_margins import profit_margins

def test_file():
    assert profit_margins("data/sales.csv") == {"widget": 37.5, "gadget": 20.0}

@pytest.mark.parametrize("price,cost,want", [(10, 5, 50.0), (4, 1, 75.0)])
def test_tmp(tmp_path, price, cost, want):
    p = tmp_path / "s.csv"
    p.write_text(f"product,cost,price\nx,{cost},{price}\n")
    assert profit_margins(str(p)) == {"x": want}
