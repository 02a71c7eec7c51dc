def label_function(text):
    """Comments that talk about the song itself are ham."""
    ham_words = ['song', 'love this', 'beautiful', 'voice', 'lyrics', 'music video', 'best song', 'amazing']
    text = text.lower()
    if any(word in text for word in ham_words):
        return 0
    return -1
