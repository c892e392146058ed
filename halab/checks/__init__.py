"""testinfra checks of the cluster file's hosts, expecting what the inventory installs
(`halab verify`, or plain pytest).

Plain pytest: pytest --pyargs halab.checks --halab-cluster FILE \\
    --hosts='ansible://halab_nodes' --ansible-inventory=INVENTORY_DIR
"""
