"""The lessons: the catalogue (lessons.json), the pages a lesson can open on, and every stated number
measured."""


from engine.lessons.catalogue import (
    LESSONS,
    TOPICS,
    Lesson,
    lesson_config,
    lesson_path,
    lesson_query,
    try_config,
    try_query,
)
from engine.lessons.cliff import CLIFF_PAGE
from engine.lessons.lab import LAB_PAGE
from engine.lessons.numbers import render_lesson
from engine.lessons.pages import LessonPage
from engine.lessons.sweep import SWEEP_PAGE

__all__ = [
    "CLIFF_PAGE", "LAB_PAGE", "LESSONS", "Lesson", "LessonPage", "SWEEP_PAGE", "TOPICS", "lesson_config", "lesson_path",
    "lesson_query", "render_lesson", "try_config", "try_query",
]
