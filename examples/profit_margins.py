import csv


def profit_margins(path: str) -> dict:
    """Profit margin in percent for each product of a CSV with product, cost and price columns.

    Args:
        path: CSV file to read, e.g. data/sales.csv.
    """
    with open(path, newline="") as f:
        return {
            row["product"]: round((float(row["price"]) - float(row["cost"])) / float(row["price"]) * 100, 2)
            for row in csv.DictReader(f)
        }
