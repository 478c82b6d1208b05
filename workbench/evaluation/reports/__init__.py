"""Reports: Markdown pages with matplotlib figures, written as one directory.

``directory`` writes a report atomically; ``plots`` draws the figures as PNG bytes;
``markdown`` has the small text helpers; ``eval_report`` and ``transfer_report``
build the two reports (file name -> bytes) from results, without touching the disk.
"""
