"""testinfra checks generated from the cluster model (`halab verify`, or plain pytest).

Plain pytest: pytest --pyargs halab.checks --halab-cluster FILE \\
    --hosts='ansible://all' --ansible-inventory=INVENTORY_DIR
"""
