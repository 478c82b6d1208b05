"""One module per benchmark (`workbench bench NAME`)."""
