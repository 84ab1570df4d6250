"""moodle"""
