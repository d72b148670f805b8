from lithair_node.cli import main

main()
