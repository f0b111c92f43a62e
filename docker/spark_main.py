"""Main file of the SparkApplication: runs ``python -m etl_app`` with the application arguments.

The Spark Operator starts the driver with ``spark-submit local:///opt/etl-app/spark_main.py ARGS``;
this hands ARGS to the etl-app CLI exactly as the ``etl-app`` console script would.
"""

import runpy

if __name__ == "__main__":
    runpy.run_module("etl_app", run_name="__main__", alter_sys=True)
