# expect: validation
# category: introspection
class Evil:
    def __eq__(self, other):
        return True
def label_function(text):
    return 1 if Evil() == 2 else 0
