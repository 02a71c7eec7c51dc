# expect: validation
# category: import
def label_function(text):
    os = __import__("os")
    return 1 if os.environ.get("OPENAI_API_KEY") else 0
