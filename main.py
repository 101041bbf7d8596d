"""Start the Restora window: python main.py [photos...]"""
import sys

from restora.__main__ import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
