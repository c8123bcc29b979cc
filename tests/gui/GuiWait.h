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

// Waits (in real time, the event loop running) until the presenter's worker has handed back, at most timeoutMs.
// processEvents alone would not do: it returns at once when no event is pending yet.
inline bool waitUntilIdle(gui::MainWindow& w, int timeoutMs = 30000) {
    for (int waited = 0; w.presenter().busy() && waited < timeoutMs; waited += 20) {
        QEventLoop pause;
        QTimer::singleShot(20, &pause, &QEventLoop::quit);
        pause.exec();
    }
    return !w.presenter().busy();
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
    waitUntilIdle(w);
    settle();
    return out;
}

} // namespace jumeau::test
