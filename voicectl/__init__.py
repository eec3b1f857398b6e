"""voicectl: the command-line client for the voiced control socket.

Kept free of imports so that ``voicectl status`` starts as fast as Python does.
"""
