#pragma once
// Waiting in GUI tests: letting the event loop run, and waiting for the end of a background task.

#include <QApplication>
#include <QEventLoop>
#include <QTimer>
#include <utility>

#include "gui/CasePresenter.h"
#include "gui/MainWindow.h"

namespace jumeau::test {

// Lets queued events (repaints, signals from the worker) run.
inline void settle() {
    for (int i = 0; i < 5; ++i) QApplication::processEvents(QEventLoop::AllEvents, 20);
}

// Waits for the end of a background task (edit, import, export, registration): the window's one "task finished"
// signal, then for the worker thread to be idle. Returns the task's outcome and message ("timed out" if none).
inline std::pair<bool, QString> waitForTask(gui::MainWindow& w, int timeoutMs = 180000) {
    QEventLoop loop;
    std::pair<bool, QString> out{false, "timed out"};
    auto c = QObject::connect(&w, &gui::MainWindow::exportFinished, &loop, [&](bool ok, const QString& m) {
        out = {ok, m};
        loop.quit();
    });
    QTimer::singleShot(timeoutMs, &loop, &QEventLoop::quit);
    loop.exec();
    QObject::disconnect(c);
    for (int i = 0; i < 100 && w.presenter().busy(); ++i) QApplication::processEvents(QEventLoop::AllEvents, 50);
    settle();
    return out;
}

} // namespace jumeau::test
