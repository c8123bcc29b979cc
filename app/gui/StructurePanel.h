#pragma once
// The structure list beside the views: each structure of the case's segmentation with its colour, name (category
// and label value in its tooltip), volume (ml), a visibility box and the 3D opacity. Changes are signalled; the window applies them to
// the slice overlays and the 3D surfaces.

#include <QWidget>
#include <cstdint>
#include <set>
#include <vector>

#include "jumeau/imaging/LabelMap.h"

class QTableWidget;

namespace jumeau::gui {

class StructurePanel : public QWidget {
    Q_OBJECT
public:
    enum Column { NameColumn = 0, VolumeColumn, OpacityColumn, ColumnCount };

    explicit StructurePanel(QWidget* parent = nullptr);

    // One row per structure (label order); nullptr or an empty map clears the list. Volumes come from the voxel
    // counts (one histogram pass) times the voxel volume. Every structure starts visible, at its category's opacity.
    void setStructures(const imaging::LabelMap* labels);

    // After an edit: the same structures keep their visibility and opacity, volumes are recounted; a changed
    // structure table (added or deleted structures) rebuilds the list.
    void updateStructures(const imaging::LabelMap* labels);

    QTableWidget* table() const { return m_table; }
    // The structure the tools act on: the selected row, else the first structure that is not the body; 0 if none.
    std::uint16_t activeLabel() const;
    void selectStructure(std::uint16_t label);
    double opacityOf(std::uint16_t label) const; // -1 when absent
    int rowOf(std::uint16_t label) const; // -1 when absent
    std::set<std::uint16_t> hiddenLabels() const;
    // As if the user ticked or unticked the box / changed the opacity (emits the signal).
    void setStructureVisible(std::uint16_t label, bool visible);
    void setStructureOpacity(std::uint16_t label, double opacity);

signals:
    void visibilityChanged(std::uint16_t label, bool visible);
    void opacityChanged(std::uint16_t label, double opacity);

private:
    QTableWidget* m_table = nullptr;
    bool m_filling = false;
    std::vector<imaging::Structure> m_shown; // the table as listed
};

} // namespace jumeau::gui
