"""What runs and comparisons become: text tables and JSON (:mod:`.report`), and exports
(:mod:`.export`)."""
