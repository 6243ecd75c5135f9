# released at exit: the known cycle (release closure over its wrapper + an export) never collected
# by the program: the release runs at exit, with its wrapper intact, and nothing crashes.
import os, pybuf
class W:
    def __init__(self):
        self.tag = b"wrapper intact"
        self.owner = pybuf.Owner(release=lambda: os.write(1, b"released: " + self.tag + b"\n"))
        self.view = memoryview(self.owner.buffer(id(self), 8))
W()
