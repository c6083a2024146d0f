"""Plot helpers (optional: need matplotlib, ``pip install 'crowdmix[plot]'``).

matplotlib is imported inside each function, so importing crowdmix never needs it.
"""
